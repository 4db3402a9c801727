/**
 * `npm run admin -- <username> <password>`: create an admin, or make an existing user admin with this
 * password, in whatever DynamoDB the environment names: DynamoDB Local, LocalStack, or a deployed
 * stage (USERS_TABLE=<the stack's table name>, AWS credentials from the usual chain).
 * The password may also come from ADMIN_PASSWORD so it stays out of shell history.
 */
import { AccountService, PasswordHasher, TokenService } from '../shared/auth/index.ts';
import { config } from '../shared/config.ts';
import { createDocumentClient, UserRepository } from '../shared/db/index.ts';
import { schemas } from '../shared/http/index.ts';

const [username, passwordArg] = process.argv.slice(2);
const password = passwordArg ?? process.env.ADMIN_PASSWORD;
const input = schemas.registerBody.safeParse({ username, password });
if (!input.success) {
  console.error('usage: npm run admin -- <username> [password]   (or ADMIN_PASSWORD=...)');
  for (const issue of input.error.issues) console.error(`  ${issue.path.join('.')}: ${issue.message}`);
  process.exit(2);
}

const cfg = config();
const users = new UserRepository(createDocumentClient(cfg), cfg.USERS_TABLE);
// Creating an admin issues no token; the token service is only a constructor argument here.
const noTokens = new TokenService(() => Promise.reject(new Error('not used')), {
  issuer: '',
  audience: '',
  ttlSeconds: 0,
});
const accounts = new AccountService(users, new PasswordHasher(cfg.BCRYPT_COST), noTokens);
const { user, created } = await accounts.upsertAdmin(input.data.username, input.data.password);
console.log(
  `${created ? 'created' : 'updated'} admin ${user.username} (id ${user.id}) in ${cfg.USERS_TABLE}${cfg.DYNAMODB_ENDPOINT ? ` at ${cfg.DYNAMODB_ENDPOINT}` : ''}`,
);
