-- id: settlement_without_sale
-- category: phantom_sale
-- severity: high
-- title_zh: 医保结算没有对应的销售记录（空刷）
-- title_en: Insurance settlement with no matching sale
-- why_zh: 每一笔医保结算都应该对应收银系统里的一笔销售（同一结算ID）和出库。只有结算、没有销售，说明可能只刷了卡没有拿药（空刷），或者结算的数量多于实际卖出的数量。
-- why_en: Every insurance settlement should match a sale at the till (same setl_id) that took goods out of stock. A settlement with no sale, or settling more than was sold, is the mark of a card swiped with nothing dispensed.
-- message_zh: 结算 {setl_id}（{ts}，医保支付 {amount_fen} 元）{what_zh}
-- message_en: settlement {setl_id} ({ts}, insurance paid {amount_fen} yuan) {what_en}
WITH active AS (
    SELECT s.* FROM settlements s
    WHERE s.is_reversal = 0 AND s.deleted = 0
      AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = s.setl_id)
), linked_stores AS (
    SELECT DISTINCT store FROM sales WHERE setl_id IS NOT NULL AND deleted = 0
), settled AS (
    SELECT store, setl_id, item_id, SUM(qty) AS qty, GROUP_CONCAT('settlement_lines:' || id) AS refs
    FROM settlement_lines WHERE deleted = 0 GROUP BY store, setl_id, item_id
), sold AS (
    SELECT store, setl_id, item_id, SUM(CASE WHEN is_return = 1 THEN -qty ELSE qty END) AS qty,
           GROUP_CONCAT('sales:' || id) AS refs
    FROM sales WHERE deleted = 0 AND setl_id IS NOT NULL GROUP BY store, setl_id, item_id
), ins_name AS (
    -- the insurance name of each settled item (a join: Spark runs no subquery that refers two levels out)
    SELECT store, setl_id, item_id, MAX(item_name) AS item_name FROM settlement_lines GROUP BY store, setl_id, item_id
)
SELECT a.store, a.day AS day_first, a.setl_id, a.setl_id AS setl_ids, a.psn_no AS psn_nos, a.ts,
       (SELECT GROUP_CONCAT(DISTINCT l.item_id) FROM settled l WHERE l.setl_id = a.setl_id AND l.store = a.store) AS items,
       COALESCE(a.insurance_fen, 0) AS amount_fen,
       '没有任何同一结算ID的销售记录' AS what_zh, 'has no sale with the same setl_id' AS what_en,
       'settlements:' || a.id || COALESCE(',' || (SELECT GROUP_CONCAT(l.refs) FROM settled l
                                                  WHERE l.setl_id = a.setl_id AND l.store = a.store), '') AS evidence
FROM active a
JOIN linked_stores ls ON ls.store = a.store
WHERE EXISTS (SELECT 1 FROM settled l WHERE l.setl_id = a.setl_id AND l.store = a.store)
  AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.setl_id = a.setl_id AND s.store = a.store AND s.deleted = 0)
UNION ALL
SELECT a.store, a.day, a.setl_id, a.setl_id, a.psn_no, a.ts, l.item_id,
       CAST(COALESCE((SELECT SUM(m.insured_fen) FROM v_line_money m WHERE m.setl_id = a.setl_id AND m.store = a.store
                      AND m.item_id = l.item_id), 0) * (l.qty - COALESCE(s.qty, 0)) / l.qty AS INTEGER),
       '中商品 ' || l.item_id || ' 结算 ' || l.qty || '，销售只有 ' || COALESCE(s.qty, 0),
       'settled ' || l.qty || ' units of item ' || l.item_id || ' but the sale has ' || COALESCE(s.qty, 0),
       'settlements:' || a.id || ',' || l.refs || COALESCE(',' || s.refs, '')
FROM active a
JOIN settled l ON l.setl_id = a.setl_id AND l.store = a.store
LEFT JOIN sold s ON s.setl_id = a.setl_id AND s.store = a.store AND s.item_id = l.item_id
JOIN ins_name z ON z.setl_id = a.setl_id AND z.store = a.store AND z.item_id = l.item_id
WHERE l.qty > 0 AND l.qty > COALESCE(s.qty, 0)
  AND EXISTS (SELECT 1 FROM sales x WHERE x.setl_id = a.setl_id AND x.store = a.store AND x.deleted = 0)
  AND NOT EXISTS (SELECT 1 FROM name_map n JOIN sales x ON x.item_name = n.till_name
                  WHERE x.setl_id = a.setl_id AND n.store = a.store AND n.insurance_name = z.item_name AND n.verdict = 'match')
