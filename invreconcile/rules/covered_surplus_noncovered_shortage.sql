-- id: covered_surplus_noncovered_shortage
-- category: substitution
-- severity: high
-- title_zh: 医保药品盘盈、同期非医保商品盘亏（串换）
-- title_en: Covered drug surplus with a matching non-covered shortage (substitution)
-- why_zh: 串换药品时，账上卖出的是医保药品（实物仍在货架上，盘点多出），顾客实际拿走的是化妆品、食品、器械等非医保商品（没有销售记录，盘点短少）。同一门店同一次盘点中两者金额相近，就是串换的痕迹。
-- why_en: In substitution the books sell a covered drug (which stays on the shelf: a count surplus) while the customer takes cosmetics, food or devices (no sale: a count shortage). Both in the same store and count, of similar value, is the trace it leaves.
-- message_zh: {store} {day_first} 盘点：医保药品 {covered_items} 盘盈 {surplus_fen} 元，同期非医保商品 {other_items} 盘亏 {shortage_fen} 元
-- message_en: stock count at {store} on {day_first}: covered drugs {covered_items} {surplus_fen} yuan over the books, non-covered goods {other_items} {shortage_fen} yuan short
-- param min_value_yuan = 30  # surplus and shortage each at least this value (one cheap item is enough to substitute)
-- param_zh min_value_yuan: 盘盈和盘亏金额各至少这么多元（一件便宜商品就足以串换）
-- param min_similarity = 0.5  # smaller / larger of the two values
-- param_zh min_similarity: 两者金额的较小值/较大值至少为此比例
WITH gaps AS (
    SELECT c.store, c.day, c.month, c.item_id, i.covered, c.new_diff * i.unit_fen AS value_fen, c.refs
    FROM v_count_book c JOIN v_item i ON i.store = c.store AND i.item_id = c.item_id
    WHERE i.unit_fen IS NOT NULL AND i.convrat > 0
), pairs AS (
    SELECT s.store, s.day, s.month, s.item_id AS covered_item, h.item_id AS other_item,
           s.value_fen AS surplus_fen, -h.value_fen AS shortage_fen, s.refs || ',' || h.refs AS refs,
           ROW_NUMBER() OVER (PARTITION BY s.store, s.day, s.item_id
                              ORDER BY ABS(s.value_fen + h.value_fen), h.item_id) AS rn
    FROM gaps s JOIN gaps h ON h.store = s.store AND h.day = s.day AND h.covered = 0 AND h.value_fen < 0
    WHERE s.covered = 1 AND s.value_fen >= :min_value_yuan * 100 AND -h.value_fen >= :min_value_yuan * 100
      AND (CASE WHEN s.value_fen < -h.value_fen THEN s.value_fen * 1.0 / -h.value_fen
                ELSE -h.value_fen * 1.0 / s.value_fen END) >= :min_similarity
)
SELECT p.store, p.day AS day_first, p.month AS period, p.covered_item AS covered_items, p.other_item AS other_items,
       p.covered_item || ',' || p.other_item AS items, CAST(p.surplus_fen AS INTEGER) AS surplus_fen,
       CAST(p.shortage_fen AS INTEGER) AS shortage_fen,
       CAST(CASE WHEN p.surplus_fen < p.shortage_fen THEN p.surplus_fen ELSE p.shortage_fen END AS INTEGER) AS amount_fen,
       p.refs AS evidence
FROM pairs p
WHERE p.rn = 1
