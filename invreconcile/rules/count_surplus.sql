-- id: count_surplus
-- category: phantom_sale
-- severity: medium
-- title_zh: 盘点数量多于账面库存（已售未出库）
-- title_en: Stock count above book stock (sold on paper, still on the shelf)
-- why_zh: 盘点实物比账面多，说明账上卖掉的药其实还在货架上：医保已经付钱，药却没有发出去，是虚假购药或串换的典型痕迹。少量差异（低于阈值）视为正常盘点误差；账面为负的情况由负库存规则处理。
-- why_en: More on the shelf than the books say means goods sold on paper never left: insurance paid for drugs that were not dispensed, the mark of phantom sales or substitution. Small differences under the thresholds are ordinary count errors; a negative book is left to the negative_stock rule.
-- message_zh: {store} {day_first} 盘点商品 {item_id}（{item_name}）实盘 {counted}，账面 {book}，自上次盘点以来新增盘盈 {diff} 个最小单位（约 {boxes} 盒，价值 {value_fen} 元）
-- message_en: stock count of item {item_id} ({item_name}) at {store} on {day_first}: counted {counted}, book {book}: {diff} units more than the books, arisen since the previous count (about {boxes} boxes, worth {value_fen} yuan)
-- param min_boxes = 1  # surplus in whole boxes before reporting
-- param_zh min_boxes: 盘盈达到这么多整盒才报
-- param min_value_yuan = 50  # surplus value before reporting
-- param_zh min_value_yuan: 盘盈金额达到这么多元才报
-- param high_value_yuan = 500  # surplus value from which the finding is high severity
-- param_zh high_value_yuan: 盘盈金额达到这么多元记为高严重程度
SELECT c.store, c.day AS day_first, c.month AS period, c.item_id, c.item_id AS items, i.item_name, c.counted, c.book,
       c.new_diff AS diff, CAST(c.new_diff / i.convrat AS INTEGER) AS boxes, CAST(c.new_diff * i.unit_fen AS INTEGER) AS value_fen,
       CAST(c.new_diff * i.unit_fen AS INTEGER) AS amount_fen,
       CASE WHEN c.new_diff * i.unit_fen >= :high_value_yuan * 100 THEN 'high' ELSE 'medium' END AS severity,
       c.refs AS evidence
FROM v_count_book c
JOIN v_item i ON i.store = c.store AND i.item_id = c.item_id
WHERE i.covered = 1 AND i.convrat > 0 AND c.book >= 0 AND c.new_diff >= :min_boxes * i.convrat
  AND c.new_diff * i.unit_fen >= :min_value_yuan * 100
