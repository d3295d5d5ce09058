-- The bench's customer schema: one shop, six tables, real foreign keys.
-- Every personal column is nullable so that either tool may null it.
-- The same indexes serve both tools (they read the same database).
CREATE TABLE customers (
    id          bigint PRIMARY KEY,
    email       text,
    name        text,
    phone       text,
    created_at  timestamptz NOT NULL
);
CREATE TABLE addresses (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    street      text,
    city        text,
    postal_code text,
    created_at  timestamptz NOT NULL
);
CREATE TABLE orders (
    id               bigint PRIMARY KEY,
    customer_id      bigint NOT NULL REFERENCES customers (id),
    shipping_name    text,
    shipping_street  text,
    total_cents      integer NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE TABLE order_items (
    id           bigint PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders (id),
    product      text NOT NULL,
    quantity     integer NOT NULL,
    gift_message text,
    created_at   timestamptz NOT NULL
);
CREATE TABLE support_tickets (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    subject     text,
    body        text,
    created_at  timestamptz NOT NULL
);
CREATE TABLE login_events (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    ip_address  text,
    user_agent  text,
    created_at  timestamptz NOT NULL
);
