import { actorOf, endpoint, schemas, userView } from '#shared/http';
import { roleService } from '#shared/wiring/admin';

export const handler = endpoint(
  'update-user-role',
  { params: schemas.idParams, body: schemas.roleBody },
  { roles: roleService },
  async ({ params, body, caller, services }) =>
    userView(await services.roles.change(params.id, body.role, actorOf(caller))),
);
