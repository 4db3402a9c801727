import { endpoint, schemas } from '#shared/http';
import { loginService } from '#shared/wiring/auth';

export const handler = endpoint(
  'login-user',
  { body: schemas.loginBody },
  { accounts: loginService },
  ({ body, event, services }) =>
    services.accounts.login(body.username, body.password, { address: event.requestContext.http.sourceIp }),
);
