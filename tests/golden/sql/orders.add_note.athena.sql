ALTER TABLE `demo`.`orders` ADD COLUMNS (`note` string);

ALTER TABLE `demo`.`orders_changes` ADD COLUMNS (`note` string);
