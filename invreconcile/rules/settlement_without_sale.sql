-- id: settlement_without_sale
-- category: phantom_sale
-- severity: high
-- title_zh: 医保结算没有对应的销售记录（空刷）
-- title_en: Insurance settlement with no matching sale
-- why_zh: 每一笔医保结算都应该对应收银系统里的一笔销售（同一结算ID）和出库。只有结算、没有销售，说明可能只刷了卡没有拿药（空刷），或者结算的数量多于实际卖出的数量。
-- why_en: Every insurance settlement should match a sale at the till (same setl_id) that took goods out of stock. A settlement with no sale, or settling more than was sold, is the mark of a card swiped with nothing dispensed.
-- message_zh: 结算 {setl_id}（{ts}，医保支付 {amount_fen} 元）{what_zh}
-- message_en: settlement {setl_id} ({ts}, insurance paid {amount_fen} yuan) {what_en}
WITH linked_stores AS (
    SELECT DISTINCT store FROM sales WHERE setl_id IS NOT NULL AND deleted = 0
), both_sides AS (
    -- settled units (lines not withdrawn) and sold units per setl_id and item in one pass
    SELECT setl_id, store, item_id, CASE WHEN deleted = 0 THEN qty END AS l_qty, CAST(NULL AS INTEGER) AS s_qty
    FROM settlement_lines WHERE item_id IS NOT NULL
    UNION ALL
    SELECT setl_id, store, item_id, NULL, CASE WHEN is_return = 1 THEN -qty ELSE qty END
    FROM sales WHERE deleted = 0 AND setl_id IS NOT NULL AND item_id IS NOT NULL
), short AS (
    SELECT setl_id, store, item_id, SUM(l_qty) AS qty, COALESCE(SUM(s_qty), 0) AS sold_qty
    FROM both_sides GROUP BY setl_id, store, item_id
    HAVING SUM(l_qty) > 0 AND SUM(l_qty) > COALESCE(SUM(s_qty), 0)
), short_lines AS (
    -- references and insurance name for the short items only; item_name from every line of
    -- the item, withdrawn ones too
    SELECT k.setl_id, k.store, k.item_id, GROUP_CONCAT(CASE WHEN l.deleted = 0 THEN 'settlement_lines:' || l.id END) AS refs,
           MAX(l.item_name) AS item_name
    FROM short k JOIN settlement_lines l ON l.setl_id = k.setl_id AND l.store = k.store AND l.item_id = k.item_id
    GROUP BY k.setl_id, k.store, k.item_id
), short_sales AS (
    SELECT k.setl_id, k.store, k.item_id, GROUP_CONCAT('sales:' || x.id) AS sold_refs
    FROM short k JOIN sales x ON x.setl_id = k.setl_id AND x.store = k.store AND x.item_id = k.item_id AND x.deleted = 0
    GROUP BY k.setl_id, k.store, k.item_id
)
SELECT a.store, a.day AS day_first, a.setl_id, a.setl_id AS setl_ids, a.psn_no AS psn_nos, a.ts,
       (SELECT GROUP_CONCAT(DISTINCT l.item_id) FROM settlement_lines l
        WHERE l.setl_id = a.setl_id AND l.store = a.store AND l.deleted = 0) AS items,
       COALESCE(a.insurance_fen, 0) AS amount_fen,
       '没有任何同一结算ID的销售记录' AS what_zh, 'has no sale with the same setl_id' AS what_en,
       'settlements:' || a.id || COALESCE(',' || (SELECT GROUP_CONCAT('settlement_lines:' || l.id) FROM settlement_lines l
                                                  WHERE l.setl_id = a.setl_id AND l.store = a.store AND l.deleted = 0), '') AS evidence
FROM settlements a
JOIN linked_stores ls ON ls.store = a.store
WHERE a.is_reversal = 0 AND a.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.setl_id = a.setl_id AND s.store = a.store AND s.deleted = 0)
  AND EXISTS (SELECT 1 FROM settlement_lines l WHERE l.setl_id = a.setl_id AND l.store = a.store AND l.deleted = 0)
  AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = a.setl_id AND r.store = a.store)
UNION ALL
SELECT a.store, a.day, a.setl_id, a.setl_id, a.psn_no, a.ts, l.item_id,
       CAST(COALESCE((SELECT SUM(m.insured_fen) FROM v_line_money m WHERE m.setl_id = a.setl_id AND m.store = a.store
                      AND m.item_id = l.item_id), 0) * (l.qty - l.sold_qty) / l.qty AS INTEGER),
       '中商品 ' || l.item_id || ' 结算 ' || l.qty || '，销售只有 ' || l.sold_qty,
       'settled ' || l.qty || ' units of item ' || l.item_id || ' but the sale has ' || l.sold_qty,
       'settlements:' || a.id || ',' || r.refs || COALESCE(',' || sr.sold_refs, '')
FROM short l
JOIN short_lines r ON r.setl_id = l.setl_id AND r.store = l.store AND r.item_id = l.item_id
LEFT JOIN short_sales sr ON sr.setl_id = l.setl_id AND sr.store = l.store AND sr.item_id = l.item_id
JOIN settlements a ON a.setl_id = l.setl_id AND a.store = l.store AND a.is_reversal = 0 AND a.deleted = 0
WHERE EXISTS (SELECT 1 FROM sales x WHERE x.setl_id = a.setl_id AND x.store = a.store AND x.deleted = 0)
  AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = a.setl_id AND r.store = a.store)
  AND NOT EXISTS (SELECT 1 FROM name_map n JOIN sales x ON x.item_name = n.till_name
                  WHERE x.setl_id = a.setl_id AND n.store = a.store AND n.insurance_name = r.item_name AND n.verdict = 'match')
