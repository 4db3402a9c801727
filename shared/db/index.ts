export { createDocumentClient, createDynamoClient } from './client.ts';
export { createTables } from './create-tables.ts';
export { type ProductRecord, ProductRepository } from './products.ts';
export { type PurchaseRecord, PurchaseRepository, type RecordOutcome } from './purchases.ts';
export { PURCHASES_BY_PRODUCT_INDEX, PURCHASES_BY_USER_INDEX, tableDefinitions } from './tables.ts';
export { cancellationCodes, transactWrite } from './transactions.ts';
export { type Role, UsernameTakenError, type UserRecord, UserRepository } from './users.ts';
