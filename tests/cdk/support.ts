/**
 * What the CDK tests share: synthesizing the app the way `cdk synth` does (cdk.json context, no
 * bundling), finding a function's resources in the template, and the least-privilege model every
 * function's role is checked against.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import {
  type FunctionName,
  fallbackRoute,
  httpRoutes,
  type Resources,
  scheduledFunctions,
  type TableName,
} from '#shared/routes';
import { createFlashSaleApp } from '../../lib/app.ts';
import type { EndpointFunction } from '../../lib/endpoint-function.ts';
import type { FlashSaleStack } from '../../lib/flash-sale-stack.ts';
import { tableDefinitions } from '../../shared/db/tables.ts';

export type Json = Record<string, any>;

export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The deploy settings and feature flags `cdk synth` gets from cdk.json. */
export const cdkJsonContext = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8'))
  .context as Record<string, unknown>;
const noBundling = { 'aws:cdk:bundling-stacks': [] };

/**
 * A synthesis takes a second or two alone and much longer on a machine busy with other work; a
 * hook that synthesizes gets this long instead of vitest's 10 s default for hooks.
 */
export const SYNTH_TIMEOUT = 120_000;

export const endpoints = [...httpRoutes, fallbackRoute];
export const allFunctions = [...endpoints, ...scheduledFunctions];
export const scheduledNames = new Set<string>(scheduledFunctions.map((f) => f.function));

export function createApp(context: Record<string, unknown> = {}) {
  return createFlashSaleApp({ context: { ...cdkJsonContext, ...noBundling, ...context } });
}

export function synth(context: Record<string, unknown> = {}) {
  const { app, stack } = createApp(context);
  return synthApp(app, stack);
}

export function synthApp(app: ReturnType<typeof createApp>['app'], stack: FlashSaleStack) {
  const assembly = app.synth();
  const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template);
  const validationReport = JSON.parse(
    readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as Json;
  return { stack, assembly, template, validationReport };
}

/** The logical id of an L1 construct, or of an L2 construct's main resource. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const element = CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild;
  return stack.getLogicalId(element as CfnElement);
}

export function endpoint(stack: FlashSaleStack, name: FunctionName): EndpointFunction {
  const fn = stack.functions.get(name);
  if (!fn) throw new Error(`no function ${name} in the stack`);
  return fn;
}

export function functionId(stack: FlashSaleStack, name: FunctionName): string {
  return stack.getLogicalId(endpoint(stack, name).function.node.defaultChild as CfnFunction);
}

export function functionProperties(template: Template, stack: FlashSaleStack, name: FunctionName): Json {
  return template.toJSON().Resources[functionId(stack, name)].Properties;
}

export function usesOf(name: FunctionName): Resources {
  const fn = allFunctions.find((f) => f.function === name);
  if (!fn) throw new Error(`no function ${name} in shared/routes.ts`);
  return fn.uses;
}

// --- Least privilege -------------------------------------------------------------------------

/** What grantReadData / grantReadWriteData give, spelled out so the test does not trust the library. */
export const tableReadActions = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:Query',
  'dynamodb:Scan',
];
export const tableWriteActions = [
  'dynamodb:BatchWriteItem',
  'dynamodb:DeleteItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];
const secretReadActions = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const logWriteActions = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const queueSendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];

/**
 * The only actions any function may hold on the resource "*", each because AWS supports no
 * resource-level permission for it. Everything else names its resource.
 */
export const allowedWildcardActions = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];

/** The managed policy a function in the VPC gets for its network interfaces, and no other. */
export const vpcAccessPolicy = 'aws:policy/service-role/AWSLambdaVPCAccessExecutionRole';

/** `action on resource`, where the resource is "*", a logical id, or `<logical id>/index/*`. */
export type Grant = string;
const grant = (action: string, resource: string): Grant => `${action} on ${resource}`;

/** A resource of a policy statement, named the way the grants above name it. */
function resourceKey(value: unknown): string {
  if (value === '*') return '*';
  const o = value as Json;
  if (typeof o?.Ref === 'string') return o.Ref;
  if (Array.isArray(o?.['Fn::GetAtt']) && o['Fn::GetAtt'][1] === 'Arn') return o['Fn::GetAtt'][0];
  const join = o?.['Fn::Join'];
  if (Array.isArray(join) && join[0] === '' && Array.isArray(join[1]) && join[1].length === 2) {
    const [base, suffix] = join[1];
    if (suffix === '/index/*') return `${resourceKey(base)}/index/*`;
  }
  return JSON.stringify(value);
}

/** `arn:${AWS::Partition}:iam::aws:policy/...` → `aws:policy/...`; anything else as JSON. */
function managedPolicyKey(value: unknown): string {
  const join = (value as Json)?.['Fn::Join'];
  if (Array.isArray(join) && join[0] === '') {
    const text = (join[1] as unknown[])
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
      .join('');
    const match = /^arn:\{"Ref":"AWS::Partition"\}:iam::(aws:policy\/.+)$/.exec(text);
    if (match?.[1]) return match[1];
  }
  return JSON.stringify(value);
}

export interface RoleAccess {
  readonly grants: Set<Grant>;
  readonly managedPolicies: string[];
  /** Statements this model cannot judge (Deny, NotAction, Condition, ...): each one is a violation. */
  readonly unjudgeable: string[];
}

/**
 * Everything the template lets a role do: its inline policies, every IAM policy and managed policy
 * resource attached to it, and the managed policies it names, split into single grants.
 */
export function roleAccess(templateJson: Json, roleId: string): RoleAccess {
  const resources = templateJson.Resources as Record<string, Json>;
  const role = resources[roleId];
  if (!role) throw new Error(`no role ${roleId} in the template`);
  const attachesRole = (r: Json) =>
    ((r.Properties?.Roles ?? []) as unknown[]).some((ref) => (ref as Json)?.Ref === roleId);

  const documents: Json[] = [
    ...((role.Properties.Policies ?? []) as Json[]).map((p) => p.PolicyDocument),
    ...Object.values(resources)
      .filter(
        (r) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && attachesRole(r),
      )
      .map((r) => r.Properties.PolicyDocument),
  ];

  const grants = new Set<Grant>();
  const unjudgeable: string[] = [];
  for (const statement of documents.flatMap((d) => d.Statement as Json[])) {
    const shape = Object.keys(statement).filter((k) => !['Action', 'Effect', 'Resource', 'Sid'].includes(k));
    if (statement.Effect !== 'Allow' || shape.length > 0 || !statement.Action || !statement.Resource) {
      unjudgeable.push(JSON.stringify(statement));
      continue;
    }
    for (const action of [statement.Action].flat() as string[]) {
      for (const resource of [statement.Resource].flat()) grants.add(grant(action, resourceKey(resource)));
    }
  }
  const managedPolicies = ((role.Properties.ManagedPolicyArns ?? []) as unknown[]).map(managedPolicyKey);
  return { grants, managedPolicies, unjudgeable };
}

/** Everything a function's route declares it may do, and so all its role may allow. */
export function declaredAccess(
  stack: FlashSaleStack,
  name: FunctionName,
): { grants: Set<Grant>; managedPolicies: string[] } {
  const fn = endpoint(stack, name);
  const uses = usesOf(name);
  const grants = new Set<Grant>();
  const allow = (actions: string[], resource: string) => {
    for (const action of actions) grants.add(grant(action, resource));
  };

  allow(logWriteActions, logicalId(stack, fn.function.logGroup));
  allow(allowedWildcardActions, '*');
  for (const [table, access] of Object.entries(uses.tables) as [TableName, string][]) {
    const actions = access === 'readWrite' ? [...tableReadActions, ...tableWriteActions] : tableReadActions;
    const id = logicalId(stack, stack.data.tables[table]);
    allow(actions, id);
    if (tableDefinitions[table].globalSecondaryIndexes.length > 0) allow(actions, `${id}/index/*`);
  }
  if (uses.redis) allow(secretReadActions, logicalId(stack, stack.redis.authSecret));
  if (uses.jwt === 'sign') allow(secretReadActions, logicalId(stack, stack.jwtSigningKey));
  if (uses.jwt === 'verify') allow(secretReadActions, logicalId(stack, stack.jwtVerifyKeys));
  // Not in the route table: a scheduled run's on-failure destination, which Lambda writes as the function.
  if (scheduledNames.has(name)) allow(queueSendActions, logicalId(stack, stack.reconcileFailures.queue));

  return { grants, managedPolicies: uses.redis ? [vpcAccessPolicy] : [] };
}

/** Every way the function's role differs from what its route declares; empty when it matches. */
export function leastPrivilegeViolations(
  templateJson: Json,
  stack: FlashSaleStack,
  name: FunctionName,
): string[] {
  const actual = roleAccess(templateJson, logicalId(stack, endpoint(stack, name).role));
  const declared = declaredAccess(stack, name);
  return [
    ...actual.unjudgeable.map((s) => `${name}: statement outside the model: ${s}`),
    ...[...actual.grants].filter((g) => !declared.grants.has(g)).map((g) => `${name}: undeclared ${g}`),
    ...[...declared.grants].filter((g) => !actual.grants.has(g)).map((g) => `${name}: missing ${g}`),
    ...actual.managedPolicies
      .filter((p) => !declared.managedPolicies.includes(p))
      .map((p) => `${name}: undeclared managed policy ${p}`),
    ...declared.managedPolicies
      .filter((p) => !actual.managedPolicies.includes(p))
      .map((p) => `${name}: missing managed policy ${p}`),
  ];
}
