/** A buyer's own purchases, newest first: reads of the purchases table alone. */
import type { PurchaseRecord } from '../model.ts';
import type { PurchaseStore } from './ports.ts';

export class PurchaseHistory {
  constructor(private readonly purchases: Pick<PurchaseStore, 'listByUser'>) {}

  listMine(userId: number): Promise<PurchaseRecord[]> {
    return this.purchases.listByUser(userId);
  }
}
