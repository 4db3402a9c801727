import { endpoint } from '#shared/http';

export const handler = endpoint('get-health', {}, ({ services }) => services.health.check());
