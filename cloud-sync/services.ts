import type { CloudService } from './config.js';
import type { CloudContext } from './context.js';

/** A service's start: registers its routes on ctx.app, connects, sets readiness, registers shutdown. */
export type ServiceStarter = (ctx: CloudContext) => Promise<void>;

/** Loaded lazily so `aide cloud api` does not load the ingest worker's dependencies. */
export const serviceStarters: Record<CloudService, () => Promise<ServiceStarter>> = {
  api: () => import('./api/service.js').then((m) => m.start),
  notify: () => import('./notify/service.js').then((m) => m.start),
  ingest: () => import('./ingest/service.js').then((m) => m.start),
};
