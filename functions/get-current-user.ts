import { endpoint, userView } from '#shared/http';
import { accountService } from '#shared/wiring/auth';

export const handler = endpoint(
  'get-current-user',
  {},
  { accounts: accountService },
  async ({ caller, services }) => userView(await services.accounts.profile(caller.userId)),
);
