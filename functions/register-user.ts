import { endpoint, schemas } from '#shared/http';
import { accountService } from '#shared/wiring/auth';

export const handler = endpoint(
  'register-user',
  { body: schemas.registerBody },
  { accounts: accountService },
  async ({ body, services }) => {
    const user = await services.accounts.register(body);
    return { id: user.id, username: user.username, created_at: user.created_at };
  },
);
