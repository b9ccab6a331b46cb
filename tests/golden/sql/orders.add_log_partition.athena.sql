DROP TABLE IF EXISTS `demo`.`orders_changes`;

CREATE EXTERNAL TABLE IF NOT EXISTS `demo`.`orders_changes` (
  `order_id` bigint,
  `customer_id` bigint,
  `status` string,
  `amount` decimal(12,2),
  `ordered_at` timestamp,
  `note` string,
  `op` string,
  `valid_from` timestamp,
  `change_seq` string,
  `row_hash` bigint,
  `batch_id` string
)
PARTITIONED BY (`batch_number` bigint)
STORED AS PARQUET
LOCATION 's3://tidemark-lake/validated/demo/orders/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.batch_number.type' = 'integer',
  'projection.batch_number.range' = '1,9999999',
  'projection.batch_number.digits' = '6',
  'storage.location.template' = 's3://tidemark-lake/validated/demo/orders/b${batch_number}/'
);
