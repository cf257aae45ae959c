-- id: dq_missing_time
-- category: data_quality
-- severity: low
-- title_zh: 记录缺少时间
-- title_en: Records without a time
-- why_zh: 没有时间的销售、结算、采购无法排入库存流水和追溯码时间线，相关规则没有判断这些行：请补充时间后重新导入。
-- why_en: Sales, settlements and purchases without a time cannot be placed in running stock or a code's timeline; rules did not judge these rows. Add the time and import again.
-- message_zh: {store} 的 {table_name} 中有 {n_rows} 行没有时间，未参与判断
-- message_en: {store}: {n_rows} rows of {table_name} have no time and were not judged
SELECT store, table_name, COUNT(*) AS n_rows, 0 AS amount_fen, GROUP_CONCAT(ref) AS evidence,
       GROUP_CONCAT(DISTINCT setl_id) AS setl_ids
FROM (
    SELECT store, 'sales' AS table_name, 'sales:' || id AS ref, setl_id FROM sales WHERE ts IS NULL AND deleted = 0
    UNION ALL SELECT store, 'settlements', 'settlements:' || id, setl_id FROM settlements WHERE ts IS NULL AND deleted = 0
    UNION ALL SELECT store, 'purchases', 'purchases:' || id, NULL FROM purchases WHERE ts IS NULL AND deleted = 0
    UNION ALL SELECT store, 'stock_counts', 'stock_counts:' || id, NULL FROM stock_counts WHERE ts IS NULL AND deleted = 0
    UNION ALL SELECT store, 'stock_changes', 'stock_changes:' || id, NULL FROM stock_changes WHERE ts IS NULL AND deleted = 0
) u
GROUP BY store, table_name
