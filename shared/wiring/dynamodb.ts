/**
 * The DynamoDB side: one document client per process and a provider per repository, each behind
 * the DynamoDB circuit breaker.
 */
import { AuditRepository } from '../db/audit.ts';
import { createDocumentClient } from '../db/client.ts';
import { OrderRepository } from '../db/orders.ts';
import { ProductRepository } from '../db/products.ts';
import { PurchaseRepository } from '../db/purchases.ts';
import { UserRepository } from '../db/users.ts';
import { behindBreaker } from './breakers.ts';
import { provider } from './provider.ts';
import { settings, tableName } from './settings.ts';
import { tracedClient } from './tracing.ts';

// Every AWS call an X-Ray subsegment in Lambda (shared/wiring/tracing.ts).
export const documentClient = provider('dynamodb', {}, [], () =>
  tracedClient(createDocumentClient(settings())),
);

/** Users; a role change also appends to the audit table (its name is read then). */
export const userTable = provider('users-table', { tables: ['users'] }, [documentClient], async () =>
  behindBreaker(
    'dynamodb',
    'UserRepository',
    new UserRepository(await documentClient.get(), tableName('users')(), tableName('audit')),
  ),
);

/**
 * Products; every change but a sale also appends to the audit table (its name is read then), so a
 * route that changes products declares the audit table too (through `auditTable`).
 */
export const productTable = provider('products-table', { tables: ['products'] }, [documentClient], async () =>
  behindBreaker(
    'dynamodb',
    'ProductRepository',
    new ProductRepository(await documentClient.get(), tableName('products')(), tableName('audit')),
  ),
);

/** The audit log. */
export const auditTable = provider('audit-table', { tables: ['audit'] }, [documentClient], async () =>
  behindBreaker(
    'dynamodb',
    'AuditRepository',
    new AuditRepository(await documentClient.get(), tableName('audit')()),
  ),
);

/** Purchases; recording one also decrements the products table (its name is read then). */
export const purchaseTable = provider(
  'purchases-table',
  { tables: ['purchases'] },
  [documentClient],
  async () =>
    behindBreaker(
      'dynamodb',
      'PurchaseRepository',
      new PurchaseRepository(await documentClient.get(), tableName('purchases')(), tableName('products')),
    ),
);

/** Orders; confirming one also writes the products and purchases tables (their names are read then). */
export const orderTable = provider('orders-table', { tables: ['orders'] }, [documentClient], async () =>
  behindBreaker(
    'dynamodb',
    'OrderRepository',
    new OrderRepository(
      await documentClient.get(),
      tableName('orders')(),
      tableName('products'),
      tableName('purchases'),
    ),
  ),
);
