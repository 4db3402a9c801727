export { createDocumentClient, createDynamoClient } from './client.ts';
export { createTables } from './create-tables.ts';
export { OrderRepository } from './orders.ts';
export { ProductRepository } from './products.ts';
export { PurchaseRepository } from './purchases.ts';
export {
  ORDERS_BY_PRODUCT_INDEX,
  ORDERS_BY_USER_INDEX,
  PURCHASES_BY_PRODUCT_INDEX,
  PURCHASES_BY_USER_INDEX,
  tableDefinitions,
} from './tables.ts';
export { cancellationCodes, isConditionFailure, transactWrite } from './transactions.ts';
export { UserRepository } from './users.ts';
