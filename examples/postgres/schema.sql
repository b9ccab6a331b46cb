-- The demo's source database (idempotent): two tables and a few rows.
CREATE TABLE IF NOT EXISTS customers (
    customer_id bigint PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    tier        text NOT NULL DEFAULT 'basic',
    signed_up   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customers IS 'People who buy from the shop';
COMMENT ON COLUMN customers.tier IS 'basic, silver or gold';

CREATE TABLE IF NOT EXISTS orders (
    order_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount      numeric(10,2) NOT NULL,
    status      text NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE orders IS 'Orders, from placed to shipped';

INSERT INTO customers (customer_id, name, email) VALUES
    (1, 'Ada', 'ada@example.com'), (2, 'Brian', NULL), (3, 'Chen', 'chen@example.com')
ON CONFLICT DO NOTHING;
