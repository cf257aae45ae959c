-- id: code_sold_then_counted
-- category: phantom_sale
-- severity: high
-- title_zh: 已售出的追溯码在之后的盘点中仍在货架（虚假购药）
-- title_en: Trace code recorded as sold found again on the shelf at a later stocktake
-- why_zh: 账上已卖出、医保已支付的药盒，盘点时又被扫到，说明药根本没有离店：这是空刷、虚假购药最有力的证据。
-- why_en: A box the books say was sold, and insurance paid for, scanned again on the shelf at a stocktake never left the store: the strongest proof of a phantom sale.
-- message_zh: 追溯码 {code}（商品 {item_id}）于 {ts} 销售结算（{tx}），但 {count_ts} 盘点时仍在 {store} 货架上，其间无退货或冲销
-- message_en: trace code {code} (item {item_id}) was sold on {ts} ({tx}) but was on the shelf of {store} at the stocktake of {count_ts}, with no return or reversal in between
WITH seen AS (
    SELECT code, store, MIN(epoch) AS epoch, MIN(ts) AS ts, MIN(day) AS day,
           GROUP_CONCAT(src_table || ':' || src_id) AS refs
    FROM code_events
    WHERE event = 'counted' OR (event = 'scanned' AND detail = 'stocktake')
    GROUP BY store, code, day  -- store first: by code first, SQLite reads the events through the code index (slow)
)
SELECT t.store, t.day AS day_first, s.day AS day_last, t.code AS codes, t.code, t.item_id, t.item_id AS items,
       t.ts, t.tx, s.ts AS count_ts, t.setl_id AS setl_ids, t.psn_no AS psn_nos,
       CAST(COALESCE((SELECT SUM(m.insured_fen / CASE WHEN m.code_count > 0 THEN m.code_count ELSE 1 END)
                      FROM v_line_money m WHERE m.setl_id = t.setl_id AND m.store = t.store AND m.item_id = t.item_id), 0)
            AS INTEGER) AS amount_fen,  -- the insurance money of one box of the line (0 for a cash sale)
       (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
        WHERE e.code = t.code AND e.store = t.store AND e.event IN ('sold', 'settled')
          AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = t.tx) || ',' || s.refs AS evidence
FROM v_code_tx t
JOIN seen s ON s.code = t.code AND s.store = t.store AND s.epoch > t.epoch
WHERE t.reversed = 0 AND t.trdn = 0
  AND NOT EXISTS (SELECT 1 FROM code_events r WHERE r.code = t.code AND r.event IN ('returned', 'received', 'transfer_in')
                  AND r.epoch >= t.epoch AND r.epoch <= s.epoch)
  AND NOT EXISTS (SELECT 1 FROM v_code_tx later WHERE later.code = t.code AND later.epoch > t.epoch AND later.epoch < s.epoch)
  AND NOT EXISTS (SELECT 1 FROM sales r WHERE r.is_return = 1 AND r.deleted = 0 AND t.setl_id IS NOT NULL
                  AND r.setl_id = t.setl_id AND r.store = t.store AND r.item_id = t.item_id)
