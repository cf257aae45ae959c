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
-- param_zh min_missing: 缺码盒数达到这么多才报
WITH keyed AS (
    -- per settlement line key (store, setl_id, item): its lines' units, its distinct trace
    -- codes and whether it is a split-pack sale, in one grouped pass (three groupings joined
    -- through automatic indexes took twice as long); the rest is read for the findings only
    SELECT m.store, m.setl_id, m.item_id, m.qty, 1 AS is_line, CAST(NULL AS TEXT) AS code, 0 AS is_split
    FROM v_line_money m
    UNION ALL
    SELECT DISTINCT store, setl_id, item_id, NULL, 0, code, 0 FROM code_events
    WHERE event IN ('sold', 'settled') AND code_kind IN ('cn20', 'gs1', 'ma') AND setl_id IS NOT NULL
    UNION ALL
    SELECT store, setl_id, item_id, NULL, 0, NULL, 1 FROM sales WHERE trdn_flag = 1 AND setl_id IS NOT NULL
    UNION ALL
    SELECT store, setl_id, item_id, NULL, 0, NULL, 1 FROM settlement_lines WHERE trdn_flag = 1
    UNION ALL
    SELECT store, setl_id, item_id, NULL, 0, NULL, 1 FROM code_events
    WHERE code_kind = 'split_placeholder' AND setl_id IS NOT NULL
), lines AS (
    SELECT store, setl_id, item_id, SUM(qty) AS qty, COUNT(code) AS n_codes
    FROM keyed GROUP BY store, setl_id, item_id
    HAVING MAX(is_line) = 1 AND MAX(is_split) = 0
), short AS (
    SELECT l.store, l.setl_id, l.item_id, l.qty, l.n_codes, i.convrat
    FROM lines l
    JOIN v_item i ON i.store = l.store AND i.item_id = l.item_id
    WHERE i.convrat > 0 AND i.covered = 1 AND l.qty % i.convrat = 0 AND l.qty >= i.convrat
      AND l.qty / i.convrat - l.n_codes >= :min_missing
      AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = l.setl_id AND r.store = l.store)
)
SELECT l.store, MIN(m.day) AS day_first, l.setl_id, l.setl_id AS setl_ids, l.item_id, l.item_id AS items,
       MAX(m.item_name) AS item_name, MAX(m.psn_no) AS psn_nos, CAST(l.qty / l.convrat AS INTEGER) AS boxes, l.n_codes,
       CAST(SUM(m.insured_fen) * (l.qty / l.convrat - l.n_codes) / (l.qty / l.convrat) AS INTEGER) AS amount_fen,
       GROUP_CONCAT('settlement_lines:' || m.id) AS evidence
FROM short l
JOIN v_line_money m ON m.setl_id = l.setl_id AND m.store = l.store AND m.item_id = l.item_id
GROUP BY l.store, l.setl_id, l.item_id, l.qty, l.n_codes, l.convrat
