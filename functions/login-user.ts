import { endpoint, schemas } from '#shared/http';

export const handler = endpoint('login-user', { body: schemas.loginBody }, ({ body, services }) =>
  services.accounts.login(body.username, body.password),
);
