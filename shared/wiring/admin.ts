/** The admin capability's providers: roles, the admin-route check, listings, locks. */
import { LockAdminService } from '../admin/locks.ts';
import { RoleService } from '../admin/roles.ts';
import { auditTable, productTable, purchaseTable, userTable } from './dynamodb.ts';
import { provider } from './provider.ts';
import { productLocks } from './redis.ts';

/** The role check every admin route makes (shared/http endpoint): one consistent read of the caller. */
export const adminCheck = provider(
  'admin-check',
  {},
  [userTable],
  async () => new RoleService(await userTable.get()),
);

/** Role changes, each with its audit row. */
export const roleService = provider(
  'roles',
  {},
  [userTable, auditTable],
  async () => new RoleService(await userTable.get()),
);

/** Purchases for the admin: filters and cursor pages over the purchases table. */
export const purchaseListing = provider('purchase-listing', {}, [purchaseTable], () => purchaseTable.get());

/** The audit log's pages. */
export const auditLog = provider('audit-log', {}, [auditTable], () => auditTable.get());

/** Lock inspection and forced release (audited). */
export const lockAdmin = provider(
  'lock-admin',
  {},
  [productTable, productLocks, auditTable],
  async () =>
    new LockAdminService({
      products: await productTable.get(),
      locks: await productLocks.get(),
      audit: await auditTable.get(),
    }),
);

/** Lock inspection alone: reads only. */
export const lockInspection = provider(
  'lock-inspection',
  {},
  [productTable, productLocks],
  async () =>
    new LockAdminService({
      products: await productTable.get(),
      locks: await productLocks.get(),
      audit: { append: () => Promise.reject(new Error('lock inspection appends nothing')) },
    }),
);
