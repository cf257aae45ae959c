-- id: code_resold
-- category: duplicate_code
-- severity: high
-- title_zh: 追溯码重复销售/结算（疑似回流药）
-- title_en: Trace code sold or settled again without a return (resold box)
-- why_zh: 一盒药只有一个追溯码，只能卖一次。同一个码在没有退货或结算冲销的情况下再次销售结算，说明这盒药回流再卖，或者码被复用。
-- why_zh: 拆零销售（trdn_flag=1）按盒内最小单位累计，只有累计超过整盒含量才算重复；同一结算ID或同一零售单号的重复上传算一次。
-- why_en: One box has one trace code and can be sold once. The same code sold or settled again with no sale return or settlement reversal in between means the box came back and was sold again, or the code is being reused.
-- why_en: Split-pack sales (trdn_flag=1) are summed in minimum units per opened box and count only when they exceed the box's content; re-uploads with the same setl_id or retail document are one event.
-- message_zh: 追溯码 {code} 在 {first_store} {first_ts} 已售出（{first_tx}），又于 {store} {ts} 再次销售结算（{tx}），其间无退货或冲销{extra_zh}
-- message_en: trace code {code} was sold at {first_store} on {first_ts} ({first_tx}) and sold again at {store} on {ts} ({tx}) with no return or reversal in between{extra_en}
-- param min_gap_seconds = 0  # ignore a second sale this many seconds after the first (same-second double submits)
-- param_zh min_gap_seconds: 首次销售后这么多秒内的再次销售不计（同一秒的重复提交）
WITH multi AS (
    -- codes in two or more transactions: only they can have been sold again (a few percent
    -- of the codes; the windows below then sort those codes' transactions only)
    SELECT code FROM v_code_tx WHERE reversed = 0 GROUP BY code HAVING COUNT(*) > 1
), cand AS (
    SELECT t.* FROM v_code_tx t JOIN multi m ON m.code = t.code WHERE t.reversed = 0
), split AS (
    -- split-pack sales of one code: the first opens the box; a later one counts as another
    -- sale of the code once the units sold from it exceed the box's content
    SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.code ORDER BY s.epoch, s.tx) AS nth,
           SUM(s.units) OVER (PARTITION BY s.code ORDER BY s.epoch, s.tx
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS units_so_far
    FROM (SELECT t.*, COALESCE(t.sold_qty, (SELECT MAX(e.qty) FROM code_events e WHERE e.code = t.code
                                             AND e.store = t.store AND e.setl_id = t.setl_id AND e.event = 'settled'), 0) AS units,
                 i.convrat
          FROM cand t LEFT JOIN v_item i ON i.store = t.store AND i.item_id = t.item_id
          WHERE t.trdn = 1) s
), tx AS (
    SELECT * FROM cand WHERE trdn = 0
    UNION ALL
    SELECT code, store, tx, setl_id, epoch, ts, day, month, trdn, item_id, psn_no, product_key, code_kind,
           sold_qty, expy_end, reversed
    FROM split WHERE nth = 1 OR (convrat > 0 AND units_so_far > convrat)
), seq AS (
    SELECT tx.*,
           LAG(tx) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_tx,
           LAG(store) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_store,
           LAG(epoch) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_epoch,
           LAG(setl_id) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_setl,
           LAG(psn_no) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_psn,
           LAG(day) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_day,
           LAG(ts) OVER (PARTITION BY code ORDER BY epoch, tx) AS prev_ts
    FROM tx
), resold AS (
    SELECT s.* FROM seq s
    WHERE s.prev_tx IS NOT NULL AND s.epoch - s.prev_epoch >= :min_gap_seconds
      AND NOT EXISTS (SELECT 1 FROM code_events r WHERE r.code = s.code AND r.event IN ('returned', 'received', 'transfer_in')
                      AND r.epoch >= s.prev_epoch AND r.epoch <= s.epoch)
      AND NOT EXISTS (SELECT 1 FROM sales r WHERE r.is_return = 1 AND r.deleted = 0 AND s.prev_setl IS NOT NULL
                      AND r.setl_id = s.prev_setl AND r.store = s.prev_store AND r.item_id = s.item_id)
), money AS (
    -- the insurance money of one box of the line (0 for a cash sale), for the findings only
    SELECT k.setl_id, k.store, k.item_id, SUM(m.insured_fen / CASE WHEN m.code_count > 0 THEN m.code_count ELSE 1 END) AS box_fen
    FROM (SELECT DISTINCT setl_id, store, item_id FROM resold) k
    JOIN v_line_money m ON m.setl_id = k.setl_id AND m.store = k.store AND m.item_id = k.item_id
    GROUP BY k.setl_id, k.store, k.item_id
)
SELECT r.store, r.prev_day AS day_first, r.day AS day_last, r.code AS codes, r.code,
       r.prev_store AS first_store, r.prev_ts AS first_ts, r.prev_tx AS first_tx, r.tx, r.ts,
       COALESCE(r.setl_id, '') || ',' || COALESCE(r.prev_setl, '') AS setl_ids,
       COALESCE(r.psn_no, '') || ',' || COALESCE(r.prev_psn, '') AS psn_nos, r.item_id AS items,
       CAST(COALESCE(m.box_fen, 0) AS INTEGER) AS amount_fen,
       (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
        WHERE e.code = r.code AND e.store = r.store AND e.event IN ('sold', 'settled')
          AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = r.tx) || ','
       || (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
           WHERE e.code = r.code AND e.store = r.prev_store AND e.event IN ('sold', 'settled')
             AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = r.prev_tx) AS evidence,
       CASE WHEN r.store <> r.prev_store THEN '（跨店）' ELSE '' END AS extra_zh,
       CASE WHEN r.store <> r.prev_store THEN ' (another store)' ELSE '' END AS extra_en
FROM resold r
LEFT JOIN money m ON m.setl_id = r.setl_id AND m.store = r.store AND m.item_id = r.item_id
