import { endpoint, userView } from '#shared/http';

export const handler = endpoint('get-current-user', {}, async ({ caller, services }) =>
  userView(await services.accounts.profile(caller.userId)),
);
