-- id: dq_store_without_stock_data
-- category: data_quality
-- severity: low
-- title_zh: 有医保结算但没有进销存数据的门店
-- title_en: Store with settlements but no stock data
-- why_zh: 这家门店（或未知门店编码）有医保结算，却没有任何采购、销售或盘存记录，库存和追溯码类规则无法判断它：请导入该店的进销存数据，或核对门店编码。
-- why_en: This store (or unknown store code) has insurance settlements but no purchases, sales or stock counts, so stock and trace-code rules cannot judge it: import its stock records or check the store code.
-- message_zh: 门店 {store} 有 {n_setl} 笔医保结算（医保支付 {insured_fen} 元），但没有进销存记录，未做库存核对
-- message_en: store {store} has {n_setl} settlements (insurance paid {insured_fen} yuan) but no stock records; stock checks were not run for it
SELECT s.store, MIN(s.day) AS day_first, MAX(s.day) AS day_last, COUNT(*) AS n_setl,
       SUM(COALESCE(s.insurance_fen, 0)) AS insured_fen, 0 AS amount_fen,
       GROUP_CONCAT('settlements:' || s.id) AS evidence
FROM settlements s
WHERE s.deleted = 0 AND s.is_reversal = 0
  AND s.store NOT IN (SELECT store FROM sales UNION SELECT store FROM purchases UNION SELECT store FROM stock_counts)
GROUP BY s.store
