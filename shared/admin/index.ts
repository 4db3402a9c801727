export { UserNotFoundError } from './errors.ts';
export { LockAdminService, type LockView } from './locks.ts';
export type { AuditLog, AuditQuery, Page, PurchaseFilter, PurchaseListing, RoleStore } from './ports.ts';
export { RoleService } from './roles.ts';
