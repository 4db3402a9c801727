/** `list-my-purchases` → `ListMyPurchases`: construct ids, and so logical ids, read like the name. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}
