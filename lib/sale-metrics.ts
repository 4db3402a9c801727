/**
 * CloudWatch metric objects for the application metrics of lib/metric-names.ts, shared by the
 * dashboard and the alarms so both look at exactly what the functions emit.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import {
  BREAKER_DEPENDENCY_DIMENSION,
  COLD_START_FUNCTION_DIMENSION,
  HOT_DEAL_STATE_DIMENSION,
  type HotDealOrderState,
  LIMIT_DIMENSION,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  type SaleMetricName,
  SERVICE_DIMENSION,
} from './metric-names.ts';

/** One minute: a sale lasts minutes, and a five-minute average hides its opening spike. */
export const SALE_PERIOD = Duration.minutes(1);

/**
 * An application metric under the `service` dimension (plus `extra` dimensions, if any). No unit:
 * CloudWatch would use it as a filter, and a graph should not go blank because an emitter picked a
 * different unit than lib/metric-names.ts lists.
 */
export function saleMetric(
  name: SaleMetricName,
  statistic: string,
  options: { label?: string; extra?: Record<string, string> } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { [SERVICE_DIMENSION]: METRICS_SERVICE, ...options.extra },
    statistic,
    period: SALE_PERIOD,
    label: options.label,
  });
}

/** Events per second: the per-minute sum divided by the period, so graphs read as a rate. */
export function perSecond(name: SaleMetricName, label: string): cloudwatch.MathExpression {
  // Ids are unique per graph: the metric's own name, in the lower camel case CloudWatch requires.
  const id = name.charAt(0).toLowerCase() + name.slice(1);
  return new cloudwatch.MathExpression({
    expression: `${id} / PERIOD(${id})`,
    usingMetrics: { [id]: saleMetric(name, 'Sum') },
    label,
    period: SALE_PERIOD,
  });
}

export function hotDealOrders(state: HotDealOrderState): cloudwatch.Metric {
  return saleMetric('HotDealOrders', 'Sum', { label: state, extra: { [HOT_DEAL_STATE_DIMENSION]: state } });
}

/** 429s of one abuse limit (login-username, purchases-in-flight, ...). */
export function limitReached(limit: string): cloudwatch.Metric {
  return saleMetric('LimitReached', 'Sum', { label: limit, extra: { [LIMIT_DIMENSION]: limit } });
}

/** A breaker metric (BreakerOpened, BreakerRejected) of one dependency. */
export function breakerMetric(
  name: 'BreakerOpened' | 'BreakerRejected',
  dependency: string,
  label: string,
): cloudwatch.Metric {
  return saleMetric(name, 'Sum', { label, extra: { [BREAKER_DEPENDENCY_DIMENSION]: dependency } });
}

/**
 * Cold starts per function. Powertools adds `function_name` to this one metric, and the function
 * names are CloudFormation's to choose, so a search finds every series of the service.
 */
export function coldStartsByFunction(): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression:
      `SEARCH('{${METRICS_NAMESPACE},${SERVICE_DIMENSION},${COLD_START_FUNCTION_DIMENSION}} ` +
      `MetricName="ColdStart" ${SERVICE_DIMENSION}="${METRICS_SERVICE}"', 'Sum', 60)`,
    label: 'cold starts',
    period: SALE_PERIOD,
  });
}
