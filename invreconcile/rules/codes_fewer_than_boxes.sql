-- id: codes_fewer_than_boxes
-- category: phantom_sale
-- severity: medium
-- title_zh: 结算盒数多于扫描的追溯码数
-- title_en: Fewer distinct trace codes than boxes billed
-- why_zh: 自2025年7月起药店医保结算须逐盒扫码。整盒销售时结算盒数多于不同追溯码数，说明有的盒没有扫码，可能根本没有发出。拆零销售不在此列。
-- why_en: Since July 2025 every box must be scanned at settlement. When more whole boxes are billed than distinct codes were scanned, some boxes were not scanned and may never have been handed over. Split-pack sales are exempt.
-- message_zh: 结算 {setl_id} 的商品 {item_id}（{item_name}）结算 {boxes} 盒，只有 {n_codes} 个不同的追溯码
-- message_en: settlement {setl_id} billed {boxes} boxes of item {item_id} ({item_name}) with only {n_codes} distinct trace codes
-- param min_missing = 1  # boxes without a code before a line is reported
WITH lines AS (
    SELECT m.store, m.setl_id, m.item_id, MAX(m.item_name) AS item_name, SUM(m.qty) AS qty,
           SUM(m.insured_fen) AS insured_fen, MAX(m.psn_no) AS psn_no, MIN(m.day) AS day,
           GROUP_CONCAT('settlement_lines:' || m.id) AS refs
    FROM v_line_money m
    WHERE NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = m.setl_id)
    GROUP BY m.store, m.setl_id, m.item_id
), split AS (
    SELECT DISTINCT store, setl_id, item_id FROM sales WHERE trdn_flag = 1 AND setl_id IS NOT NULL
    UNION SELECT DISTINCT store, setl_id, item_id FROM settlement_lines WHERE trdn_flag = 1
    UNION SELECT DISTINCT store, setl_id, item_id FROM code_events WHERE code_kind = 'split_placeholder' AND setl_id IS NOT NULL
), coded AS (
    SELECT store, setl_id, item_id, COUNT(DISTINCT code) AS n_codes FROM code_events
    WHERE event IN ('sold', 'settled') AND code_kind IN ('cn20', 'gs1', 'ma') AND setl_id IS NOT NULL
    GROUP BY store, setl_id, item_id
)
SELECT l.store, l.day AS day_first, l.setl_id, l.setl_id AS setl_ids, l.item_id, l.item_id AS items, l.item_name,
       l.psn_no AS psn_nos, CAST(l.qty / i.convrat AS INTEGER) AS boxes, COALESCE(c.n_codes, 0) AS n_codes,
       CAST(l.insured_fen * (l.qty / i.convrat - COALESCE(c.n_codes, 0)) / (l.qty / i.convrat) AS INTEGER) AS amount_fen,
       l.refs AS evidence
FROM lines l
JOIN v_item i ON i.store = l.store AND i.item_id = l.item_id
LEFT JOIN coded c ON c.store = l.store AND c.setl_id = l.setl_id AND c.item_id = l.item_id
WHERE i.convrat > 0 AND i.covered = 1 AND l.qty % i.convrat = 0 AND l.qty >= i.convrat
  AND l.qty / i.convrat - COALESCE(c.n_codes, 0) >= :min_missing
  AND NOT EXISTS (SELECT 1 FROM split s WHERE s.store = l.store AND s.setl_id = l.setl_id AND s.item_id = l.item_id)
