-- id: dq_unconverted_quantity
-- category: data_quality
-- severity: low
-- title_zh: 数量无法换算为最小单位（缺少转换比）
-- title_en: Quantities that cannot be converted to minimum units (no conversion ratio)
-- why_zh: 这些行以“盒”等包装单位记数，但商品目录中没有该商品的转换比，无法换算为最小计价单位。库存类规则无法判断这些商品，既不能当作问题，也不能当作正常：请在商品目录中补充转换比后重新导入。
-- why_en: These rows count in packs but the catalog has no conversion ratio for the item, so they cannot be turned into minimum units. Stock rules cannot judge the item, neither as a problem nor as clean: add convrat to the catalog and import again.
-- message_zh: {store} 商品 {item_id} 有 {n_rows} 行数量单位为 {units}，目录中无转换比，库存核对未判断该商品
-- message_en: {store}: {n_rows} rows of item {item_id} are in {units} with no conversion ratio in the catalog; stock checks did not judge this item
SELECT store, item_id, item_id AS items, MIN(day) AS day_first, MAX(day) AS day_last, COUNT(*) AS n_rows,
       GROUP_CONCAT(DISTINCT unit_orig) AS units, 0 AS amount_fen, GROUP_CONCAT(ref) AS evidence
FROM (
    SELECT store, item_id, day, unit_orig, 'sales:' || id AS ref FROM sales WHERE qty IS NULL AND deleted = 0
    UNION ALL SELECT store, item_id, day, unit_orig, 'purchases:' || id FROM purchases WHERE qty IS NULL AND deleted = 0
    UNION ALL SELECT store, item_id, day, unit_orig, 'stock_counts:' || id FROM stock_counts WHERE qty IS NULL AND deleted = 0
    UNION ALL SELECT store, item_id, day, unit_orig, 'stock_changes:' || id FROM stock_changes WHERE qty IS NULL AND deleted = 0
    UNION ALL SELECT store, item_id, day, unit_orig, 'settlement_lines:' || id FROM settlement_lines WHERE qty IS NULL AND deleted = 0
) u
GROUP BY store, item_id
