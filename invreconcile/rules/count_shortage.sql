-- id: count_shortage
-- category: stock_mismatch
-- severity: low
-- title_zh: 盘点数量少于账面库存（无销售出库）
-- title_en: Stock count below book stock (gone without a sale)
-- why_zh: 实物比账面少，说明有货没有销售记录就出了门：丢失、未记账的销售，或者被用来串换医保药品的非医保商品。
-- why_en: Less on the shelf than in the books: goods left without a sale record - loss, unrecorded sales, or non-covered goods handed out in place of billed drugs.
-- message_zh: {store} {day_first} 盘点商品 {item_id}（{item_name}）实盘 {counted}，账面 {book}，自上次盘点以来新增短少 {short} 个最小单位（价值 {value_fen} 元）
-- message_en: stock count of item {item_id} ({item_name}) at {store} on {day_first}: counted {counted}, book {book}, {short} units missing, arisen since the previous count (worth {value_fen} yuan)
-- param min_value_yuan = 100  # shortage value before reporting (cheap count slips are normal)
-- param_zh min_value_yuan: 盘亏金额达到这么多元才报（便宜商品的盘点误差属正常）
-- param min_boxes = 1  # shortage in whole boxes (packs) before reporting
-- param_zh min_boxes: 盘亏达到这么多整盒（包装）才报
SELECT c.store, c.day AS day_first, c.month AS period, c.item_id, c.item_id AS items, i.item_name, c.counted, c.book,
       -c.new_diff AS short, CAST(-c.new_diff * i.unit_fen AS INTEGER) AS value_fen, 0 AS amount_fen,
       c.refs AS evidence
FROM v_count_book c
JOIN v_item i ON i.store = c.store AND i.item_id = c.item_id
WHERE c.new_diff <= -(:min_boxes * COALESCE(i.convrat, 1)) AND -c.new_diff * i.unit_fen >= :min_value_yuan * 100
