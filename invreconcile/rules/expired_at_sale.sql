-- id: expired_at_sale
-- category: data_quality
-- severity: medium
-- title_zh: 药品过期后仍销售结算
-- title_en: Box sold after its expiry date
-- why_zh: 过期药品不得销售，医保基金不应为其支付。有效期取自销售记录、GS1码中的有效期或该盒入库时的有效期。
-- why_en: Expired drugs must not be sold and the fund must not pay for them. The expiry comes from the sale record, the GS1 code, or the purchase record of the box.
-- message_zh: {store} 于 {day_first} 销售结算的商品 {item_id}（码 {code}）有效期至 {expy_end}，已过期
-- message_en: item {item_id} (code {code}) sold at {store} on {day_first} had expired on {expy_end}
WITH expiry AS (
    -- only for the codes whose transaction carries no expiry (a few): reading every event
    -- of every code is most of the rule's time
    SELECT code, MAX(expy_end) AS expy_end FROM code_events
    WHERE expy_end IS NOT NULL AND event IN ('received', 'transfer_in', 'sold', 'settled')
      AND code IN (SELECT code FROM v_code_tx WHERE expy_end IS NULL AND reversed = 0)
    GROUP BY code
), sold AS (
    SELECT t.*, COALESCE(t.expy_end, x.expy_end) AS exp FROM v_code_tx t LEFT JOIN expiry x ON x.code = t.code
    WHERE t.reversed = 0
)
SELECT s.store, s.day AS day_first, s.code AS codes, s.code, s.item_id, s.item_id AS items, s.exp AS expy_end,
       s.setl_id AS setl_ids, s.psn_no AS psn_nos,
       CAST(COALESCE((SELECT SUM(m.insured_fen / CASE WHEN m.code_count > 0 THEN m.code_count ELSE 1 END)
                      FROM v_line_money m WHERE m.setl_id = s.setl_id AND m.store = s.store AND m.item_id = s.item_id), 0)
            AS INTEGER) AS amount_fen,  -- the insurance money of one box of the line (0 for a cash sale)
       (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
        WHERE e.code = s.code AND e.store = s.store AND e.event IN ('sold', 'settled')
          AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = s.tx) AS evidence  -- the transaction's events
FROM sold s
WHERE s.exp IS NOT NULL AND s.day > s.exp
