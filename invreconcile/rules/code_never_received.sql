-- id: code_never_received
-- category: unknown_code
-- severity: high
-- title_zh: 销售结算的追溯码从未入库
-- title_en: Trace code sold or settled but never received
-- why_zh: 每盒药都应先采购入库（或经调拨、经大包装码入库）再销售。从未入库的码，可能是虚构的、从别处回收的或抄来的码，对应的结算可能是空刷。
-- why_en: Every box should be received (by its own code, its case code or a transfer) before it is sold. A code that never came in may be invented, copied, or taken from boxes bought elsewhere; its settlement may be a phantom sale.
-- message_zh: 追溯码 {code}（商品 {item_id}）于 {ts} 在 {store} 销售结算（{tx}），但台账中没有它或其大包装码的入库、调入或盘点记录
-- message_en: trace code {code} (item {item_id}) was sold at {store} on {ts} ({tx}) but the ledger has no receipt, transfer in or count of it or of its case code
-- param judge_after_days = 0  # judge only sales this many days after the store's first receipt with codes (stock from before the data)
-- param_zh judge_after_days: 只判断门店首次带码入库这么多天之后的销售（此前的库存来自数据开始之前）
WITH first_receipt AS (
    SELECT store, MIN(epoch) AS epoch FROM code_events
    WHERE event IN ('received', 'transfer_in') AND code_kind IN ('cn20', 'gs1', 'ma') GROUP BY store
), tx AS (
    SELECT t.* FROM v_code_tx t JOIN first_receipt f ON f.store = t.store
    WHERE t.epoch >= f.epoch + :judge_after_days * 86400
)
SELECT t.store, t.day AS day_first, t.code AS codes, t.code, t.item_id, t.item_id AS items, t.ts, t.tx, t.tx AS about,
       t.setl_id AS setl_ids, t.psn_no AS psn_nos,
       CAST(COALESCE((SELECT SUM(m.insured_fen / CASE WHEN m.code_count > 0 THEN m.code_count ELSE 1 END)
                      FROM v_line_money m WHERE m.setl_id = t.setl_id AND m.store = t.store AND m.item_id = t.item_id), 0)
            AS INTEGER) AS amount_fen,  -- the insurance money of one box of the line (0 for a cash sale)
       (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
        WHERE e.code = t.code AND e.store = t.store AND e.event IN ('sold', 'settled')
          AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = t.tx) AS evidence  -- the transaction's events
FROM tx t
WHERE t.reversed = 0
  -- known: received, transferred in, stocked in or counted, or scanned at a receipt; the code
  -- or one of its case codes. Looked up through the code indexes (a set of all known codes
  -- took most of the rule's time)
  AND NOT EXISTS (SELECT 1 FROM code_events k WHERE k.code = t.code AND k.event IN ('received', 'transfer_in', 'stock_in', 'counted'))
  AND NOT EXISTS (SELECT 1 FROM scans k WHERE k.code = t.code AND k.mode = 'receive' AND k.deleted = 0)
  AND NOT EXISTS (SELECT 1 FROM code_ancestors a JOIN code_events k ON k.code = a.ancestor
                  WHERE a.code = t.code AND k.event IN ('received', 'transfer_in', 'stock_in', 'counted'))
  AND NOT EXISTS (SELECT 1 FROM code_ancestors a JOIN scans k ON k.code = a.ancestor
                  WHERE a.code = t.code AND k.mode = 'receive' AND k.deleted = 0)
