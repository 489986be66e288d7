/**
 * The benchmark's saga state: a realistic saga-bus order (about 700 bytes as
 * JSON). Every saga in the run is a shallow copy of one template with its own
 * ids, so all codecs encode the same shape and the same amount of data.
 */
export const SAGA_NAME = "OrderSaga";

export interface OrderLine {
  sku: string;
  qty: number;
  price: number;
}

export interface OrderState {
  orderId: string;
  customerId: string;
  status: string;
  currency: string;
  items: OrderLine[];
  shippingAddress: { name: string; line1: string; line2: string; city: string; postalCode: string; country: string };
  totals: { subtotal: number; shipping: number; tax: number; discount: number; grandTotal: number };
  metadata: { sagaId: string; version: number; createdAt: Date; updatedAt: Date; isCompleted: boolean };
  [field: string]: unknown;
}

const CREATED_AT = new Date("2026-03-01T10:00:00.000Z");
const UPDATED_AT = new Date("2026-03-01T10:00:02.345Z");

const ITEMS: readonly OrderLine[] = [
  { sku: "SKU-100234", qty: 2, price: 79.9 },
  { sku: "SKU-200871", qty: 1, price: 129.0 },
  { sku: "SKU-300045", qty: 1, price: 149.5 },
  { sku: "SKU-400912", qty: 3, price: 24.99 },
  { sku: "SKU-500318", qty: 1, price: 289.0 },
];

export function orderState(sagaId: string, orderId: string): OrderState {
  const subtotal = Math.round(ITEMS.reduce((sum, line) => sum + line.qty * line.price, 0) * 100) / 100;
  const tax = Math.round(subtotal * 0.21 * 100) / 100;
  const [shipping, discount] = [4.95, 10];
  return {
    orderId,
    customerId: "cus_8f3a2b1c9d7e",
    status: "awaiting_payment",
    currency: "EUR",
    items: ITEMS.map((line) => ({ ...line })),
    shippingAddress: {
      name: "Jordan Example",
      line1: "Keizersgracht 123",
      line2: "Apartment 4B",
      city: "Amsterdam",
      postalCode: "1015 CJ",
      country: "NL",
    },
    totals: { subtotal, shipping, tax, discount, grandTotal: Math.round((subtotal + shipping + tax - discount) * 100) / 100 },
    metadata: { sagaId, version: 0, createdAt: CREATED_AT, updatedAt: UPDATED_AT, isCompleted: false },
  };
}

/** A cheap copy of `template` for another saga (nested data shared; the store never mutates its input). */
export function withIds(template: OrderState, sagaId: string, orderId: string): OrderState {
  return { ...template, orderId, metadata: { ...template.metadata, sagaId } };
}
