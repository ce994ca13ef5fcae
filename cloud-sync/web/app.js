// Aide caregiver web app: plain JavaScript, no build step, no third-party code. Every text node is
// created with textContent (never innerHTML) so nothing from the server is interpreted as markup.

const store = {
  get session() {
    try {
      return JSON.parse(sessionStorage.getItem('aide.session') || 'null');
    } catch {
      return null;
    }
  },
  set session(s) {
    if (s) sessionStorage.setItem('aide.session', JSON.stringify(s));
    else sessionStorage.removeItem('aide.session');
  },
};

const main = document.getElementById('main');
const statusBox = document.getElementById('status');
let pollTimer = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false)
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function say(text) {
  statusBox.textContent = text;
  if (text)
    setTimeout(() => {
      if (statusBox.textContent === text) statusBox.textContent = '';
    }, 6000);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `Request failed (${status})`);
    this.status = status;
    this.details = body?.error?.details || [];
  }
}

async function request(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

let refreshing = null;
async function api(method, path, body) {
  const s = store.session;
  if (!s) throw new ApiError(401, null);
  try {
    return await request(method, path, body, s.accessToken);
  } catch (err) {
    if (err.status !== 401) throw err;
    refreshing =
      refreshing ||
      request('POST', '/v1/auth/refresh', { refreshToken: s.refreshToken }).finally(() => {
        refreshing = null;
      });
    try {
      const next = await refreshing;
      store.session = { accessToken: next.accessToken, refreshToken: next.refreshToken, user: next.user };
    } catch {
      store.session = null;
      location.hash = '#/';
      throw err;
    }
    return request(method, path, body, store.session.accessToken);
  }
}

function field(label, attrs) {
  const id = `f-${attrs.name}`;
  return [h('label', { for: id }, label), h('input', { id, ...attrs })];
}

function errorBox() {
  return h('p', { class: 'error', role: 'alert' });
}

function showError(box, err) {
  box.textContent = err.details?.length ? err.details.map((d) => d.message).join('. ') : err.message;
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// ---------- pages ----------

function signInPage(registering) {
  const err = errorBox();
  const form = h(
    'form',
    { novalidate: true },
    registering ? field('Your name', { name: 'displayName', autocomplete: 'name' }) : null,
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field('Password', {
      name: 'password',
      type: 'password',
      autocomplete: registering ? 'new-password' : 'current-password',
      required: true,
    }),
    registering ? h('p', { class: 'muted' }, 'At least 10 characters. A short sentence works well.') : null,
    err,
    h('button', { type: 'submit' }, registering ? 'Create account' : 'Sign in'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(form);
    try {
      const out = await request(
        'POST',
        registering ? '/v1/auth/register' : '/v1/auth/login',
        registering
          ? { email: v.email, password: v.password, ...(v.displayName ? { displayName: v.displayName } : {}) }
          : { email: v.email, password: v.password },
      );
      store.session = { accessToken: out.accessToken, refreshToken: out.refreshToken, user: out.user };
      location.hash = '#/';
      render();
    } catch (error) {
      showError(err, error);
    }
  });
  const external = h('div', {});
  request('GET', '/v1/auth/oidc/providers')
    .then(({ providers }) => {
      external.replaceChildren(
        ...providers.map((p) =>
          h('p', {}, h('a', { href: `/v1/auth/oidc/${p}/start`, class: 'button' }, `Sign in with ${p}`)),
        ),
      );
    })
    .catch(() => {});
  return [
    h('h1', {}, registering ? 'Create your carer account' : 'Sign in'),
    form,
    external,
    h(
      'p',
      {},
      registering
        ? h('a', { href: '#/' }, 'I already have an account')
        : h('a', { href: '#/register' }, 'Create an account'),
    ),
  ];
}

async function peoplePage() {
  const { people } = await api('GET', '/v1/people');
  const err = errorBox();
  const claim = h(
    'form',
    { novalidate: true },
    field('Pairing code', {
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      placeholder: '1234 5678',
      required: true,
    }),
    h('p', { class: 'muted' }, 'Ask the speaker: “pairing code”. It says or shows 8 digits.'),
    err,
    h('button', { type: 'submit' }, 'Connect speaker'),
  );
  claim.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/v1/devices/claim', { code: formValues(claim).code });
      say('Speaker connected.');
      render();
    } catch (error) {
      showError(err, error);
    }
  });
  return [
    h('h1', {}, 'My people'),
    people.length === 0 ? h('p', {}, 'No one yet. Connect a speaker below.') : null,
    h(
      'ul',
      { class: 'plain', role: 'list' },
      people.map((p) =>
        h(
          'li',
          { class: 'card' },
          h('a', { href: `#/people/${p.id}/alerts` }, p.name || 'Unnamed'),
          h('p', { class: 'muted' }, p.isOwner ? 'You are the main carer' : 'You are a carer'),
        ),
      ),
    ),
    h('h2', {}, 'Connect a speaker'),
    claim,
  ];
}

const tabs = [
  ['alerts', 'Alerts', 'receiveAlerts'],
  ['readings', 'Readings', 'viewRecords'],
  ['medicines', 'Medicines', 'viewRecords'],
  ['adherence', 'Doses taken', 'viewRecords'],
  ['speaker', 'Speaker', 'viewRecords'],
  ['caregivers', 'Carers', 'viewRecords'],
  ['activity', 'Activity', 'manageCaregivers'],
];

function fmtTime(iso) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

const typeNames = {
  blood_pressure: 'Blood pressure',
  heart_rate: 'Heart rate',
  oxygen_saturation: 'Oxygen',
  steps: 'Steps',
  sleep: 'Sleep',
  blood_glucose: 'Blood sugar',
  weight: 'Weight',
  temperature: 'Temperature',
};

function valueText(m) {
  if (m.value && typeof m.value === 'object')
    return `${m.value.systolic}/${m.value.diastolic} ${m.unit}${m.value.pulse ? `, pulse ${m.value.pulse}` : ''}`;
  return `${m.value} ${m.unit}`;
}

function chart(measurements, target) {
  const pts = measurements.slice().reverse();
  const series =
    pts.length && typeof pts[0].value === 'object'
      ? [
          ['systolic', (m) => m.value.systolic],
          ['diastolic', (m) => m.value.diastolic],
        ]
      : [['value', (m) => m.value]];
  const W = 600,
    H = 240,
    P = 36;
  const all = pts.flatMap((m) => series.map(([, f]) => f(m))).filter((v) => typeof v === 'number');
  const lo = target && typeof target.min === 'number' ? target.min : null;
  const hi = target && typeof target.max === 'number' ? target.max : null;
  const min = Math.min(...all, lo ?? Infinity),
    max = Math.max(...all, hi ?? -Infinity);
  const span = max - min || 1;
  const t0 = pts.length ? Date.parse(pts[0].takenAt) : 0,
    t1 = pts.length ? Date.parse(pts[pts.length - 1].takenAt) : 1;
  const x = (m) => P + ((Date.parse(m.takenAt) - t0) / (t1 - t0 || 1)) * (W - 2 * P);
  const y = (v) => H - P - ((v - min) / span) * (H - 2 * P);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute(
    'aria-label',
    `Chart of ${pts.length} readings${lo !== null ? `, target ${lo} to ${hi}` : ''}. The same readings are listed in the table below.`,
  );
  const add = (tag, a) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(a)) el.setAttribute(k, String(v));
    svg.append(el);
    return el;
  };
  if (lo !== null && hi !== null)
    add('rect', { x: P, y: y(hi), width: W - 2 * P, height: Math.max(1, y(lo) - y(hi)), fill: '#dcefdc' });
  add('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: '#444' });
  add('text', { x: 4, y: y(max) + 4, 'font-size': 14, fill: '#111' }).textContent = String(Math.round(max));
  add('text', { x: 4, y: y(min) + 4, 'font-size': 14, fill: '#111' }).textContent = String(Math.round(min));
  const colors = ['#0b5394', '#a00000'];
  series.forEach(([, f], i) => {
    const d = pts.map((m, j) => `${j ? 'L' : 'M'}${x(m).toFixed(1)},${y(f(m)).toFixed(1)}`).join(' ');
    add('path', { d, fill: 'none', stroke: colors[i], 'stroke-width': 3 });
    for (const m of pts) add('circle', { cx: x(m), cy: y(f(m)), r: 5, fill: colors[i] });
  });
  return svg;
}

async function alertsTab(id) {
  const { alerts } = await api('GET', `/v1/people/${id}/alerts?limit=50`);
  const list =
    alerts.length === 0
      ? [h('p', {}, 'No alerts. All is quiet.')]
      : alerts.map((a) =>
          h(
            'div',
            { class: `card alert-${a.priority}` },
            h(
              'p',
              {},
              h('strong', {}, a.priority === 2 ? 'Emergency' : a.priority === 1 ? 'Important' : 'Note'),
              ` · ${fmtTime(a.at)}`,
            ),
            h('p', {}, a.message),
          ),
        );
  pollTimer = setTimeout(() => render(), 15000); // live: refresh while this page is open
  return [h('p', { class: 'muted' }, 'This list updates by itself.'), ...list];
}

async function readingsTab(id, person) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const type = params.get('type') || 'blood_pressure';
  const { measurements } = await api(
    'GET',
    `/v1/people/${id}/measurements?type=${encodeURIComponent(type)}&limit=60`,
  );
  const select = h(
    'select',
    { id: 'f-type', name: 'type' },
    Object.entries(typeNames).map(([k, v]) => h('option', { value: k, selected: k === type }, v)),
  );
  select.addEventListener('change', () => {
    location.hash = `#/people/${id}/readings?type=${select.value}`;
  });
  const target = person.targets?.[type];
  return [
    h('label', { for: 'f-type' }, 'Show'),
    select,
    measurements.length === 0
      ? h('p', {}, 'No readings of this kind yet.')
      : [
          chart(measurements, target && typeof target === 'object' ? target : null),
          target && typeof target.min === 'number'
            ? h('p', {}, `Target range: ${target.min} to ${target.max} (green band).`)
            : null,
          h(
            'table',
            {},
            h('caption', { class: 'muted' }, `${typeNames[type]}, newest first`),
            h(
              'thead',
              {},
              h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Reading')),
            ),
            h(
              'tbody',
              {},
              measurements.map((m) =>
                h('tr', {}, h('td', {}, fmtTime(m.takenAt)), h('td', {}, valueText(m))),
              ),
            ),
          ),
        ],
  ];
}

const syncWords = {
  pending: 'Waiting for the speaker',
  confirmed: 'On the speaker',
  rejected: 'The speaker did not accept this',
  expired: 'The speaker did not answer',
};

async function medicinesTab(id, person) {
  const { medications } = await api('GET', `/v1/people/${id}/medications`);
  const canEdit = person.permissions.manageMedicines;
  const items = medications.map((m) => {
    const row = h(
      'div',
      { class: 'card' },
      h('p', {}, h('strong', {}, m.name), m.dose ? ` · ${m.dose}` : '', m.deleted ? ' · being removed' : ''),
      h('p', {}, `At ${m.times.join(', ')}${m.days ? ` on ${m.days.join(', ')}` : ' every day'}`),
      h('p', { class: m.sync.status }, syncWords[m.sync.status] || m.sync.status),
    );
    if (canEdit && !m.deleted) {
      const err = errorBox();
      const edit = h(
        'form',
        { novalidate: true },
        field(`New times for ${m.name}`, { name: 'times', value: m.times.join(', '), id: `t-${m.id}` }),
        err,
        h('button', { type: 'submit', class: 'secondary' }, 'Change times'),
        ' ',
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: async () => {
              if (!confirm(`Remove ${m.name}?`)) return;
              await api('DELETE', `/v1/people/${id}/medications/${m.id}`);
              say('Sent to the speaker.');
              render();
            },
          },
          'Remove',
        ),
      );
      edit.querySelector('label').setAttribute('for', `f-times-${m.id}`);
      edit.querySelector('input').id = `f-times-${m.id}`;
      edit.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
          await api('PATCH', `/v1/people/${id}/medications/${m.id}`, {
            times: formValues(edit)
              .times.split(',')
              .map((t) => t.trim())
              .filter(Boolean),
          });
          say('Sent to the speaker.');
          render();
        } catch (error) {
          showError(err, error);
        }
      });
      row.append(edit);
    }
    return row;
  });
  const out = [medications.length ? items : h('p', {}, 'No medicines yet.')];
  if (canEdit) {
    const err = errorBox();
    const form = h(
      'form',
      { novalidate: true, id: 'add-medicine' },
      field('Medicine name', { name: 'name', required: true }),
      field('Dose (for example 5 mg)', { name: 'dose' }),
      field('Times of day (for example 08:00, 20:00)', { name: 'times', required: true }),
      err,
      h('button', { type: 'submit' }, 'Add medicine'),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = formValues(form);
      try {
        await api('POST', `/v1/people/${id}/medications`, {
          name: v.name,
          ...(v.dose ? { dose: v.dose } : {}),
          times: v.times
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        });
        say('Sent to the speaker. It shows as waiting until the speaker confirms.');
        render();
      } catch (error) {
        showError(err, error);
      }
    });
    out.push(h('h2', {}, 'Add a medicine'), form);
  }
  if (medications.some((m) => m.sync.status === 'pending')) pollTimer = setTimeout(() => render(), 5000);
  return out;
}

async function adherenceTab(id) {
  const { adherence } = await api('GET', `/v1/people/${id}/adherence?days=7`);
  const pct = (r) => (r === null ? 'no doses' : `${Math.round(r * 100)}%`);
  return [
    h(
      'p',
      { class: 'big' },
      `Last 7 days: ${pct(adherence.total.rate)} of doses taken (${adherence.total.taken} taken, ${adherence.total.missed} missed, ${adherence.total.skipped} skipped).`,
    ),
    h(
      'table',
      {},
      h('caption', { class: 'muted' }, 'By day'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Day', 'Taken', 'Missed', 'Skipped'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        adherence.days.map((d) =>
          h(
            'tr',
            {},
            h('td', {}, d.day),
            h('td', {}, d.taken),
            h('td', {}, d.missed),
            h('td', {}, d.skipped),
          ),
        ),
      ),
    ),
  ];
}

async function caregiversTab(id, person) {
  const { caregivers } = await api('GET', `/v1/people/${id}/caregivers`);
  const yes = (b) => (b ? 'yes' : 'no');
  const rows = caregivers.map((c) =>
    h(
      'div',
      { class: 'card' },
      h('p', {}, h('strong', {}, c.displayName || c.email), c.isOwner ? ' · main carer' : ''),
      h(
        'p',
        { class: 'muted' },
        `Sees records: ${yes(c.permissions.viewRecords)} · Gets alerts: ${yes(c.permissions.receiveAlerts)} · Changes medicines: ${yes(c.permissions.manageMedicines)}`,
      ),
      person.permissions.manageCaregivers && !c.isOwner
        ? h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              onclick: async () => {
                if (!confirm(`Remove ${c.displayName || c.email}?`)) return;
                await api('DELETE', `/v1/people/${id}/caregivers/${c.userId}`);
                say('Removed. They can no longer see anything.');
                render();
              },
            },
            `Remove ${c.displayName || c.email}`,
          )
        : null,
    ),
  );
  const out = [rows];
  if (person.permissions.manageCaregivers) {
    const { invitations } = await api('GET', `/v1/people/${id}/invitations`);
    if (invitations.length) {
      out.push(
        h('h2', {}, 'Invitations waiting'),
        invitations.map((i) =>
          h(
            'div',
            { class: 'card' },
            h(
              'p',
              {},
              h('strong', {}, i.email),
              i.status === 'expired' ? ' · expired' : ' · not accepted yet',
            ),
            h(
              'p',
              { class: 'muted' },
              `${i.status === 'expired' ? 'Expired' : 'Works until'} ${fmtTime(i.expiresAt)}`,
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                onclick: async () => {
                  await api('DELETE', `/v1/people/${id}/invitations/${i.id}`);
                  say('Invitation withdrawn. The link no longer works.');
                  render();
                },
              },
              `Withdraw the invitation to ${i.email}`,
            ),
          ),
        ),
      );
    }
    const err = errorBox();
    const box = (name, label, checked) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name, checked }), label);
    const form = h(
      'form',
      { novalidate: true },
      field('Their email (without an Aide account yet, they get an invitation by email)', {
        name: 'email',
        type: 'email',
        required: true,
      }),
      h(
        'fieldset',
        {},
        h('legend', {}, 'They may'),
        box('viewRecords', 'see readings and medicines', true),
        box('receiveAlerts', 'get alerts', true),
        box('manageMedicines', 'change medicines', false),
      ),
      err,
      h('button', { type: 'submit' }, 'Add carer'),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      try {
        const out = await api('POST', `/v1/people/${id}/caregivers`, {
          email: fd.get('email'),
          permissions: {
            viewRecords: fd.has('viewRecords'),
            receiveAlerts: fd.has('receiveAlerts'),
            manageMedicines: fd.has('manageMedicines'),
          },
        });
        say(out.invitation ? `Invitation emailed to ${out.invitation.email}.` : 'Carer added.');
        render();
      } catch (error) {
        showError(err, error);
      }
    });
    out.push(h('h2', {}, 'Add a carer'), form);
  }
  return out;
}

// An invitation link (#/invite/<token>): kept for this tab until accepted, across sign-in or sign-up.
function invitePage() {
  const token = sessionStorage.getItem('aide.invite');
  const err = errorBox();
  const button = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        try {
          const out = await api('POST', '/v1/invitations/accept', { token });
          sessionStorage.removeItem('aide.invite');
          say('Invitation accepted.');
          location.hash = `#/people/${out.personId}`;
        } catch (error) {
          if (error.status === 404 || error.status === 409) sessionStorage.removeItem('aide.invite');
          showError(err, error);
        }
      },
    },
    'Accept the invitation',
  );
  const decline = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: () => {
        sessionStorage.removeItem('aide.invite');
        location.hash = '#/';
      },
    },
    'Not now',
  );
  return [
    h('h1', {}, 'You are invited'),
    h('p', {}, 'Someone asked you to help look after a person with Aide.'),
    err,
    button,
    decline,
  ];
}

async function activityTab(id) {
  const { entries } = await api('GET', `/v1/people/${id}/audit?limit=100`);
  return [
    h('p', { class: 'muted' }, 'Who looked at or changed records. This list cannot be edited.'),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['When', 'What', 'Who'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        entries.map((e) =>
          h(
            'tr',
            {},
            h('td', {}, fmtTime(e.at)),
            h('td', {}, `${e.action} ${e.resource || ''}${e.breakGlass ? ' (emergency access)' : ''}`),
            h('td', {}, e.actorUserId === store.session.user.id ? 'you' : e.actorRole || 'someone'),
          ),
        ),
      ),
    ),
  ];
}

// Speaker settings (cloud-sync/api/data/settings.ts): sent to the speaker like medicines.
const speeds = [
  ['', "The speaker's own setting"],
  ['120', 'Slower (120 words a minute)'],
  ['145', 'Normal (145 words a minute)'],
  ['175', 'Faster (175 words a minute)'],
];
// speech.volume, percent of the full level; the speaker never plays emergency instructions below 80.
const volumes = [
  ['', "The speaker's own volume"],
  ['40', 'Quiet (40%)'],
  ['70', 'Normal (70%)'],
  ['100', 'Loud (100%)'],
];

/** A setting picked from `list`: its value as a string, and the list with an unlisted value added. */
function choice(list, value, labelOf) {
  const current = value === undefined ? '' : String(value);
  return {
    current,
    options: list.some(([x]) => x === current) ? list : [...list, [current, labelOf(current)]],
  };
}

/** Radio buttons named `name`, one per [value, label] option, the current one checked. */
const radios = (legend, name, { current, options }, ...more) =>
  h(
    'fieldset',
    {},
    h('legend', {}, legend),
    options.map(([x, label]) =>
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'radio', name, value: x, checked: x === current }),
        label,
      ),
    ),
    ...more,
  );

async function speakerTab(id, person) {
  const { deviceSettings: s } = await api('GET', `/v1/people/${id}/device-settings`);
  const v = s.values;
  const rate = choice(speeds, v['speech.rate'], (r) => `${r} words a minute`);
  const volume = choice(volumes, v['speech.volume'], (x) => `${x}%`);
  const chosen = ({ current, options }) => options.find(([x]) => x === current)[1];
  const [quietStart, quietEnd] = v['reminders.quietHours'] ? v['reminders.quietHours'].split('-') : ['', ''];
  const status = h(
    'p',
    { class: s.sync.status, role: 'status' },
    syncWords[s.sync.status] || s.sync.status,
    s.sync.status === 'rejected' && s.sync.detail ? `: ${s.sync.detail}` : '',
  );
  if (s.sync.status === 'pending') pollTimer = setTimeout(() => render(), 3000);
  if (!person.permissions.manageMedicines)
    return h(
      'div',
      { id: 'speaker-settings' },
      status,
      h('p', {}, `Speaking speed: ${chosen(rate)}`),
      h('p', {}, `Volume: ${chosen(volume)}`),
      h('p', {}, `Quiet hours: ${quietStart ? `${quietStart} to ${quietEnd}` : "the speaker's own"}`),
      h(
        'p',
        {},
        `Time zone: ${v.timezone || `the speaker's own${person.timezone ? ` (${person.timezone})` : ''}`}`,
      ),
    );
  const err = errorBox();
  const form = h(
    'form',
    { novalidate: true, id: 'speaker-settings' },
    h('p', {}, 'How the speaker talks, and when it stays quiet. Changes are sent to the speaker.'),
    status,
    radios('Speaking speed', 'rate', rate),
    radios(
      'Volume',
      'volume',
      volume,
      h('p', { class: 'muted' }, 'Emergency instructions are always spoken at 80% or louder.'),
    ),
    h(
      'p',
      { class: 'muted' },
      'In quiet hours the speaker does not repeat a medicine reminder. Leave both empty to use its own.',
    ),
    field('Quiet from', { name: 'speakerQuietStart', type: 'time', value: quietStart }),
    field('Quiet until', { name: 'speakerQuietEnd', type: 'time', value: quietEnd }),
    field("Time zone (like Europe/London; empty: the speaker's own)", {
      name: 'speakerTimezone',
      value: v.timezone || '',
    }),
    person.timezone ? h('p', { class: 'muted' }, `The person's time zone now: ${person.timezone}`) : null,
    err,
    h('button', { type: 'submit' }, 'Save speaker settings'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = formValues(form);
    if (!f.speakerQuietStart !== !f.speakerQuietEnd) {
      err.textContent = 'Fill in both quiet times, or neither.';
      return;
    }
    const wanted = {
      'speech.rate': f.rate ? Number(f.rate) : null,
      'speech.volume': f.volume ? Number(f.volume) : null,
      'reminders.quietHours': f.speakerQuietStart ? `${f.speakerQuietStart}-${f.speakerQuietEnd}` : null,
      timezone: f.speakerTimezone.trim() || null,
    };
    // Only what changed travels (an untouched key stays as the speaker has it).
    const values = Object.fromEntries(Object.entries(wanted).filter(([k, x]) => x !== (v[k] ?? null)));
    if (!Object.keys(values).length) {
      say('Nothing to change.');
      return;
    }
    try {
      await api('PATCH', `/v1/people/${id}/device-settings`, { values });
      say('Sent to the speaker. It shows as waiting until the speaker confirms.');
      render();
    } catch (error) {
      showError(err, error);
    }
  });
  return form;
}

async function personPage(id, tab) {
  const { person } = await api('GET', `/v1/people/${id}`);
  const visible = tabs.filter(([, , perm]) => person.permissions[perm]);
  const current = visible.find(([k]) => k === tab) ? tab : (visible[0] || ['alerts'])[0];
  const render = {
    alerts: alertsTab,
    readings: readingsTab,
    medicines: medicinesTab,
    adherence: adherenceTab,
    speaker: speakerTab,
    caregivers: caregiversTab,
    activity: activityTab,
  }[current];
  return [
    h('h1', {}, person.name || 'Unnamed'),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Sections' },
      visible.map(([k, label]) =>
        h('a', { href: `#/people/${id}/${k}`, 'aria-current': k === current ? 'page' : false }, label),
      ),
    ),
    h('h2', {}, visible.find(([k]) => k === current)?.[1] || ''),
    await render(id, person),
  ];
}

async function settingsPage() {
  const { settings } = await api('GET', '/v1/me/notification-settings');
  const err = errorBox();
  const box = (name, label) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name, checked: settings[name] }), label);
  const form = h(
    'form',
    { novalidate: true },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Tell me by'),
      box('pushEnabled', 'phone notification'),
      box('emailEnabled', 'email'),
      box('smsEnabled', 'text message (SMS)'),
    ),
    field('Mobile number for texts (like +447700900123)', {
      name: 'phone',
      type: 'tel',
      value: settings.phone || '',
    }),
    h('p', { class: 'muted' }, 'In quiet time, messages wait until it ends. Emergencies come at once.'),
    field('Quiet from (emergencies still come through)', {
      name: 'quietStart',
      type: 'time',
      value: settings.quietStart || '',
    }),
    field('Quiet until', { name: 'quietEnd', type: 'time', value: settings.quietEnd || '' }),
    field('Daily summary at (empty: no summary)', {
      name: 'dailySummaryAt',
      type: 'time',
      value: settings.dailySummaryAt || '',
    }),
    field('Time zone', { name: 'timezone', value: settings.timezone }),
    box('includeValues', 'include readings and the daily counts in texts, emails and phone notifications'),
    err,
    h('button', { type: 'submit' }, 'Save'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    try {
      await api('PUT', '/v1/me/notification-settings', {
        pushEnabled: fd.has('pushEnabled'),
        emailEnabled: fd.has('emailEnabled'),
        smsEnabled: fd.has('smsEnabled'),
        phone: fd.get('phone') || null,
        quietStart: fd.get('quietStart') || null,
        quietEnd: fd.get('quietEnd') || null,
        timezone: fd.get('timezone'),
        dailySummaryAt: fd.get('dailySummaryAt') || null,
        includeValues: fd.has('includeValues'),
      });
      say('Saved.');
    } catch (error) {
      showError(err, error);
    }
  });
  const pushErr = errorBox();
  const pushButton = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        try {
          await enablePush();
          say('Notifications are on for this phone.');
        } catch (error) {
          showError(pushErr, error);
        }
      },
    },
    'Turn on notifications on this phone',
  );
  return [h('h1', {}, 'Notification settings'), form, h('h2', {}, 'This phone'), pushButton, pushErr];
}

function base64UrlToBytes(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/** Subscribes this browser to Web Push (the service worker shows the notifications) and tells the API. */
async function enablePush() {
  const { vapidPublicKey } = await request('GET', '/v1/push/config');
  if (!vapidPublicKey) throw new Error('Phone notifications are not set up on this Aide server yet.');
  if (!('serviceWorker' in navigator) || !('PushManager' in window))
    throw new Error('This browser cannot show notifications. Try email or text messages instead.');
  if ((await Notification.requestPermission()) !== 'granted')
    throw new Error('Notifications were not allowed. You can allow them in the browser settings.');
  const reg = await navigator.serviceWorker.register('/sw.js');
  const sub = await reg.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: base64UrlToBytes(vapidPublicKey),
  });
  await api('POST', '/v1/me/push-subscriptions', sub.toJSON());
}

async function render() {
  clearTimeout(pollTimer);
  const hash = location.hash.replace(/^#/, '').split('?')[0] || '/';
  const signedIn = !!store.session;
  document.getElementById('nav').hidden = !signedIn;
  let content;
  try {
    if (hash === '/oidc') {
      // Back from an identity provider: swap the one-time code for a session.
      const code = new URLSearchParams(location.hash.split('?')[1] || '').get('code');
      try {
        const out = await request('POST', '/v1/auth/oidc/exchange', { code });
        store.session = { accessToken: out.accessToken, refreshToken: out.refreshToken, user: out.user };
      } catch (err) {
        say(err.message);
      }
      history.replaceState(null, '', '/#/');
      return render();
    }
    const invite = /^\/invite\/([A-Za-z0-9_-]{43})$/.exec(hash);
    if (invite) {
      sessionStorage.setItem('aide.invite', invite[1]);
      history.replaceState(null, '', '/#/');
    }
    const pendingInvite = sessionStorage.getItem('aide.invite');
    if (!signedIn) {
      content = signInPage(hash === '/register');
      if (pendingInvite)
        content.unshift(
          h(
            'p',
            { class: 'card' },
            'You have an invitation. Sign in, or create an account, with the email address that received it.',
          ),
        );
    } else if (pendingInvite) content = invitePage();
    else if (hash === '/settings') content = await settingsPage();
    else {
      const m = /^\/people\/([^/]+)(?:\/(\w+))?$/.exec(hash);
      content = m ? await personPage(m[1], m[2]) : await peoplePage();
    }
  } catch (err) {
    content = [
      h('h1', {}, 'Something went wrong'),
      h(
        'p',
        { class: 'error', role: 'alert' },
        err.status === 404 ? 'Not found, or you do not have access.' : err.message,
      ),
      h('p', {}, h('a', { href: '#/' }, 'Back to my people')),
    ];
  }
  main.replaceChildren(...[content].flat(3).filter(Boolean));
  document.title = `${main.querySelector('h1')?.textContent || 'Aide'} · Aide for carers`;
}

document.getElementById('signout').addEventListener('click', async () => {
  const s = store.session;
  store.session = null;
  if (s) await request('POST', '/v1/auth/logout', { refreshToken: s.refreshToken }).catch(() => {});
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', () => {
  render();
  main.focus();
});
render();
