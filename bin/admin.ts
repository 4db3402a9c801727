/**
 * `npm run admin -- <username> <password>`: create an admin, or make an existing user admin with this
 * password, in whatever DynamoDB the environment names: DynamoDB Local, or a deployed stage
 * (STAGE=<stage>, USERS_TABLE=<the stack's UsersTable output>, AWS credentials from the usual chain).
 * The password may also come from ADMIN_PASSWORD so it stays out of shell history.
 */
import { adminPasswordProblem } from '../shared/auth/password-limits.ts';
import { config, requireResources } from '../shared/config.ts';
import { schemas } from '../shared/http/index.ts';
import { accountService } from '../shared/wiring/auth.ts';

const [username, passwordArg] = process.argv.slice(2);
const password = passwordArg ?? process.env.ADMIN_PASSWORD;
const input = schemas.registerBody.safeParse({ username, password });
if (!input.success) {
  console.error('usage: npm run admin -- <username> [password]   (or ADMIN_PASSWORD=...)');
  for (const issue of input.error.issues) console.error(`  ${issue.path.join('.')}: ${issue.message}`);
  process.exit(2);
}

const problem = adminPasswordProblem(input.data.password);
if (problem) {
  console.error(`  password: ${problem}`);
  process.exit(2);
}

const cfg = config();
requireResources(cfg, { tables: { users: 'readWrite' }, redis: false, jwt: false }, 'npm run admin');
const { user, created } = await (await accountService.get()).upsertAdmin(
  input.data.username,
  input.data.password,
);
console.log(
  `${created ? 'created' : 'updated'} admin ${user.username} (id ${user.id}) in ${cfg.USERS_TABLE}${cfg.DYNAMODB_ENDPOINT ? ` at ${cfg.DYNAMODB_ENDPOINT}` : ''}`,
);
