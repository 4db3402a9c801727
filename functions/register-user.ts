import { endpoint, schemas } from '#shared/http';
import { signupService } from '#shared/wiring/auth';

export const handler = endpoint(
  'register-user',
  { body: schemas.registerBody },
  { accounts: signupService },
  async ({ body, event, services }) => {
    // Named fields only: nothing else in the body (a `role`, say) can reach the account.
    const user = await services.accounts.register(
      { username: body.username, password: body.password, email: body.email },
      { address: event.requestContext.http.sourceIp },
    );
    return { id: user.id, username: user.username, created_at: user.created_at };
  },
);
