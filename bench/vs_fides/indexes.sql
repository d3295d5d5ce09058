-- Built after the bulk load: the identity and every foreign key.
CREATE INDEX ix_customers_email ON customers (email);
CREATE INDEX ix_addresses_customer_id ON addresses (customer_id);
CREATE INDEX ix_orders_customer_id ON orders (customer_id);
CREATE INDEX ix_order_items_order_id ON order_items (order_id);
CREATE INDEX ix_support_tickets_customer_id ON support_tickets (customer_id);
CREATE INDEX ix_login_events_customer_id ON login_events (customer_id);
ANALYZE;
