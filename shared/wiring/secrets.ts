/**
 * Secrets Manager values, read once at cold start and cached for five minutes (Powertools
 * Parameters), for the functions whose route declares a secret-backed binding.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

export async function secretString(arn: string): Promise<string> {
  const value = await getSecret(arn, { maxAge: 300 });
  if (typeof value !== 'string' || value.length === 0) throw new Error(`Secret ${arn} is empty`);
  return value;
}
