// Service worker: shows Web Push notifications (payload decrypted by the browser) and opens the app on tap.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {}
  event.waitUntil(
    self.registration.showNotification(data.title || 'Aide', {
      body: data.body || '',
      tag: data.tag,
      data: { url: data.url || '/' },
      requireInteraction: data.priority === 2,
    }),
  );
});
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
