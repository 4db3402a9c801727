import { endpoint } from '#shared/http';

export const handler = endpoint('verify-inventory', {}, ({ services }) => services.reconciler.verify());
