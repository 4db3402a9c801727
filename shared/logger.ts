/** One structured JSON logger per process (Powertools for AWS Lambda). */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'flash-sale-inventory' });
