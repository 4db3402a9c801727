/**
 * Deploy settings: the CDK context values (defaults in cdk.json, overridable with `-c key=value`)
 * read and validated once, so a typo fails the synth instead of deploying something odd.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';

export interface DeploySettings {
  /** Deployment stage (`dev`, `prod`, ...): part of the stack name and the functions' STAGE. */
  readonly stage: string;
  /** ElastiCache node type, e.g. `cache.t4g.small`. */
  readonly redisNodeType: string;
  /** Read replicas besides the primary; at least 1 turns on automatic failover and Multi-AZ. */
  readonly redisReplicas: number;
  /** Retention of every log group of the stack. */
  readonly logRetention: RetentionDays;
}

/** The retention periods CloudWatch Logs accepts, in days; never-expiring logs are not an option. */
const retentionValues = new Set<number>(
  Object.values(RetentionDays).filter(
    (v): v is number => typeof v === 'number' && v !== RetentionDays.INFINITE,
  ),
);

/** Values given with `-c key=value` arrive as strings; cdk.json values keep their JSON type. */
function integer(node: Node, key: string): number {
  const raw: unknown = node.tryGetContext(key);
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(`Context "${key}" must be an integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function text(node: Node, key: string, pattern: RegExp): string {
  const raw: unknown = node.tryGetContext(key);
  if (typeof raw !== 'string' || !pattern.test(raw)) {
    throw new Error(`Context "${key}" must match ${pattern}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

export function readDeploySettings(node: Node): DeploySettings {
  // The stage becomes part of the stack name: letters, digits and hyphens, starting with a letter.
  const stage = text(node, 'stage', /^[a-z][a-z0-9-]{0,19}$/);
  const redisNodeType = text(node, 'redisNodeType', /^cache\.[a-z0-9-]+\.[a-z0-9]+$/);

  const redisReplicas = integer(node, 'redisReplicas');
  // ElastiCache allows up to 5 replicas in a (cluster mode disabled) replication group.
  if (redisReplicas < 0 || redisReplicas > 5) {
    throw new Error(`Context "redisReplicas" must be between 0 and 5, got ${redisReplicas}`);
  }

  const logRetentionDays = integer(node, 'logRetentionDays');
  if (!retentionValues.has(logRetentionDays)) {
    throw new Error(
      `Context "logRetentionDays" must be one of ${[...retentionValues].sort((a, b) => a - b).join(', ')}, got ${logRetentionDays}`,
    );
  }

  return { stage, redisNodeType, redisReplicas, logRetention: logRetentionDays as RetentionDays };
}
