/**
 * The HTTP API (API Gateway v2, HTTPS only) in front of the functions: one `$default` stage with
 * JSON access logs, a default throttle for every route and tighter or wider ones per route.
 * Authorization is not done here: the functions verify the bearer token themselves (shared/http), so
 * the route table stays the one place that says who may call what.
 */
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { HttpMethod } from '#shared/routes';
import type { Throttle } from './deploy-settings.ts';

export interface PublicApiProps {
  readonly logRetention: logs.RetentionDays;
  /**
   * The default route throttle (DefaultRouteSettings), for every route without a throttle of its own:
   * steady requests per second and the bucket for the opening spike of a sale. Sized to the
   * account's default 1,000 concurrent Lambda executions: a request holds a function for tens of
   * milliseconds, so this leaves room while keeping a runaway client from exhausting Lambda, Redis
   * and DynamoDB for everyone. Above it API Gateway answers 429 itself, before any function runs.
   */
  readonly throttle: Throttle;
}

/** HTTP API context variables (REST API names such as `$context.identity.caller` do not exist here). */
const accessLogFormat = AccessLogFormat.custom(
  JSON.stringify({
    // The id the function's log lines and metrics carry as `request_id` (shared/http/endpoint.ts).
    requestId: '$context.requestId',
    // The Lambda request id: Powertools logs it as `function_request_id`.
    integrationRequestId: '$context.integration.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    routeKey: '$context.routeKey',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationStatus: '$context.integrationStatus',
    integrationError: '$context.integrationErrorMessage',
  }),
);

export class PublicApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  private readonly routes = new Map<string, apigwv2.HttpRoute>();
  private readonly routeSettings: Record<
    string,
    { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }
  > = {};

  constructor(scope: Construct, id: string, props: PublicApiProps) {
    super(scope, id);

    this.api = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Flash-sale inventory API',
      createDefaultStage: false,
    });

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention }),
        ),
        format: accessLogFormat,
      },
    });
  }

  /** `https://<api id>.execute-api.<region>.<suffix>/` */
  get url(): string {
    return this.stage.url;
  }

  /**
   * Sends every request that no route matches to the function (API Gateway's `$default` route),
   * so unknown paths get the contract's 404/405 body rather than API Gateway's own.
   */
  addDefaultRoute(fn: lambda.IFunction): void {
    new apigwv2.HttpRoute(this.api, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: apigwv2.HttpRouteKey.DEFAULT,
      integration: new HttpLambdaIntegration('Integration', fn),
    });
  }

  /** Routes `${method} ${path}` to the function through the Lambda proxy (payload format 2.0). */
  addRoute(method: HttpMethod, path: string, fn: lambda.IFunction): void {
    const [route] = this.api.addRoutes({
      path,
      methods: [apigwv2.HttpMethod[method]],
      integration: new HttpLambdaIntegration('Integration', fn),
    });
    if (route) this.routes.set(`${method} ${path}`, route);
  }

  /** Gives one route its own throttle instead of the stage default. */
  throttleRoute(method: HttpMethod, path: string, throttle: Throttle): void {
    const routeKey = `${method} ${path}`;
    const route = this.routes.get(routeKey);
    if (!route) throw new Error(`No route ${routeKey} to throttle: add it first`);
    this.routeSettings[routeKey] = {
      ThrottlingRateLimit: throttle.rateLimit,
      ThrottlingBurstLimit: throttle.burstLimit,
    };
    // The L2 stage has no per-route settings; the L1 property takes them by route key.
    (this.stage.node.defaultChild as apigwv2.CfnStage).routeSettings = this.routeSettings;
    // API Gateway refuses settings for a route key it does not know yet.
    this.stage.node.addDependency(route);
  }
}
