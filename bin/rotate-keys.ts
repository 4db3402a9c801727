/**
 * `npm run rotate-keys`: a new ES256 token key, with the one it replaces still accepted.
 *
 * Local (default): rotates `.data/token-keys.json` (or `--data-dir DIR`); restart `npm start` to use it.
 *
 * Deployed: `npm run rotate-keys -- --aws --signing-key-arn <JwtSigningKeyArn> --verify-keys-arn
 * <JwtVerifyKeysArn> [--wait-seconds 300]` (the stack's outputs; AWS_REGION and credentials as for
 * `npm run admin`). In this order, so no token is ever refused:
 *   1. publish the public keys [new, current] to JwtVerifyKeys;
 *   2. wait until every verifier has re-read them (their cache lives five minutes);
 *   3. put the new private key in JwtSigningKey: login signs with it from its next cache refresh.
 * Tokens signed with the replaced key verify until the next rotation drops it; rotate at most once
 * per JWT_MAX_AGE_SECONDS so none is dropped while still young. The first run after a deploy creates
 * the first key (the secrets start without one).
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { newSigningKey, parseSigningKey, publicKeyOf, type SigningJwk } from '../shared/auth/keys.ts';
import { keyStorePath, rotateKeys } from './local/token-keys.ts';

const { values } = parseArgs({
  options: {
    aws: { type: 'boolean', default: false },
    'data-dir': { type: 'string', default: join(process.cwd(), '.data') },
    'signing-key-arn': { type: 'string' },
    'verify-keys-arn': { type: 'string' },
    'wait-seconds': { type: 'string', default: '300' },
  },
});

async function rotateDeployed(signingArn: string, verifyArn: string, waitSeconds: number): Promise<void> {
  const client = new SecretsManagerClient({});
  let current: SigningJwk | undefined;
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: signingArn }));
    current = SecretString ? parseSigningKey(SecretString) : undefined;
  } catch (error) {
    // A fresh stack's secret holds no key yet: this run creates the first one.
    console.log(`no current signing key (${(error as Error).message}); creating the first`);
  }
  const next = newSigningKey();
  const verify = [next, ...(current ? [current] : [])].map(publicKeyOf);
  await client.send(new PutSecretValueCommand({ SecretId: verifyArn, SecretString: JSON.stringify(verify) }));
  console.log(`1/3 verifiers accept ${verify.map((k) => k.kid).join(' and ')}`);
  if (current && waitSeconds > 0) {
    console.log(`2/3 waiting ${waitSeconds} s for every verifier to re-read the keys`);
    await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
  }
  await client.send(new PutSecretValueCommand({ SecretId: signingArn, SecretString: JSON.stringify(next) }));
  console.log(`3/3 login signs with ${next.kid}`);
}

if (values.aws) {
  const signingArn = values['signing-key-arn'];
  const verifyArn = values['verify-keys-arn'];
  const waitSeconds = Number(values['wait-seconds']);
  if (!signingArn || !verifyArn || !Number.isInteger(waitSeconds) || waitSeconds < 0) {
    console.error(
      'usage: npm run rotate-keys -- --aws --signing-key-arn ARN --verify-keys-arn ARN [--wait-seconds 300]',
    );
    process.exit(2);
  }
  await rotateDeployed(signingArn, verifyArn, waitSeconds);
} else {
  const dataDir = values['data-dir'];
  const keys = rotateKeys(dataDir);
  console.log(
    `${keyStorePath(dataDir)}: signing with ${keys.current.kid}` +
      `${keys.previous ? `, still accepting ${keys.previous.kid}` : ''}; restart npm start to use it`,
  );
}
