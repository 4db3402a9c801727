/**
 * The middy chain of a scheduled function (the reconciler): the same logger context and metrics
 * flush as an endpoint's (endpoint.ts), the cold-start check of its bindings, and its services
 * built on first use. No HTTP: EventBridge neither sends a body nor reads an answer.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { config, requireResources } from '../config.ts';
import { logger } from '../logger.ts';
import { type FunctionName, scheduledFunctions } from '../routes.ts';
import { correlate, metrics } from '../wiring/metrics.ts';
import { needsBeyond, type Provider } from '../wiring/provider.ts';
import { tracer } from '../wiring/tracing.ts';

type ScheduledName = Extract<FunctionName, (typeof scheduledFunctions)[number]['function']>;

export function scheduled<T>(
  functionName: ScheduledName,
  service: Provider<T>,
  run: (service: T) => Promise<void>,
) {
  const job = scheduledFunctions.find((f) => f.function === functionName);
  if (!job) throw new Error(`No scheduled function ${functionName} in shared/routes.ts`);
  // Fail closed at the cold start: a missing binding names itself here.
  requireResources(config(), job.uses, functionName);
  const beyond = needsBeyond(service.needs, job.uses);
  if (beyond.length > 0)
    throw new Error(`${functionName} uses ${service.name}, which needs ${beyond.join(', ')}`);
  const chain = middy<ScheduledEvent, void, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
  // Tracing off: the tracer is not loaded at all (shared/wiring/tracing.ts).
  if (tracer) chain.use(captureLambdaHandler(tracer, { captureResponse: false }));
  return chain.handler(async (event, context) => {
    correlate(event?.id ?? context.awsRequestId);
    await run(await service.get());
  });
}
