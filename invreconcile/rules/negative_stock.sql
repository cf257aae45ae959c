-- id: negative_stock
-- category: stock_mismatch
-- severity: high
-- title_zh: 销售超过进货（负库存）
-- title_en: More sold than ever received (negative running stock)
-- why_zh: 按时间累计采购、退货、调拨和销售，账面库存不可能为负。卖出的比进来的多，多卖的部分要么没有进货凭证，要么根本没有发药（虚假销售）。
-- why_en: Running stock from purchases, returns, transfers and sales cannot go below zero. What was sold beyond what came in has no purchase behind it, or was never dispensed (phantom sales).
-- message_zh: {store} 的商品 {item_id}（{item_name}）账面库存最低为 {min_stock} {unit}（约 {min_boxes} 盒），库存为负期间有 {n_sales} 笔医保销售
-- message_en: running stock of item {item_id} ({item_name}) at {store} fell to {min_stock} units (about {min_boxes} boxes); {n_sales} insured sales were made while it was negative
-- param tolerance_boxes = 1  # shortfall (in boxes) tolerated before reporting: a late purchase upload, a count slip
-- param_zh tolerance_boxes: 容许的负库存盒数（采购晚上传、盘点误差），超过才报
WITH run AS (
    SELECT m.store, m.item_id, m.day, m.ref, m.setl_id, m.src, SUM(delta) OVER (PARTITION BY store, item_id ORDER BY epoch, ref
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS stock
    FROM v_movements m
), neg AS (
    SELECT r.*, i.convrat, i.item_name FROM run r JOIN v_item i ON i.store = r.store AND i.item_id = r.item_id
    WHERE r.stock < -(:tolerance_boxes * COALESCE(i.convrat, 1))
), money AS (
    -- the insured money of each sale made while negative, looked up for those few sales
    -- (grouping all of v_line_money for them took a quarter of the rule's time)
    SELECT k.store, k.item_id, k.setl_id,
           (SELECT SUM(lm.insured_fen) FROM v_line_money lm
            WHERE lm.setl_id = k.setl_id AND lm.store = k.store AND lm.item_id = k.item_id) AS insured_fen
    FROM (SELECT DISTINCT store, item_id, setl_id FROM neg WHERE src = 'sale' AND setl_id IS NOT NULL) k
), item_money AS (
    -- per item, joined below (a correlated subquery in an aggregate's SELECT list does not run on Spark)
    SELECT store, item_id, COUNT(*) AS n_sales, GROUP_CONCAT(setl_id) AS setl_ids, SUM(insured_fen) AS insured_fen
    FROM money GROUP BY store, item_id
)
SELECT n.store, n.item_id, n.item_id AS items, MAX(n.item_name) AS item_name, MIN(n.day) AS day_first, MAX(n.day) AS day_last,
       MIN(n.stock) AS min_stock, '单位' AS unit,
       CAST(-MIN(n.stock) / COALESCE(MAX(n.convrat), 1) AS INTEGER) AS min_boxes,
       COALESCE(MAX(im.n_sales), 0) AS n_sales, MAX(im.setl_ids) AS setl_ids,
       CAST(COALESCE(MAX(im.insured_fen), 0) AS INTEGER) AS amount_fen,
       GROUP_CONCAT(n.ref) AS evidence
FROM neg n
LEFT JOIN item_money im ON im.store = n.store AND im.item_id = n.item_id
GROUP BY n.store, n.item_id
