/**
 * Where a failed run of a scheduled function is recorded: the on-failure destination of its
 * asynchronous invocations (EventBridge invokes asynchronously). Lambda sends the event, the error
 * and the response, which a CloudWatch log line alone would not keep together, and an alarm on the
 * queue's depth says that a run failed.
 */
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export class FailedInvocations extends Construct {
  readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS-managed keys: encrypted at rest with no key to pay for or to open to Lambda in a policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: a failure found after a long weekend is still there to read.
      retentionPeriod: Duration.days(14),
    });
  }

  /** Failure records waiting to be read. */
  metricWaiting(period: Duration): cloudwatch.Metric {
    return this.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period });
  }
}
