-- id: product_barcode_as_code
-- category: data_quality
-- severity: low
-- title_zh: 扫描了商品条码而非追溯码
-- title_en: Product barcode uploaded instead of a trace code
-- why_zh: 商品条码（69开头的EAN-13）和药品本位码只标明品种，不标明具体哪一盒；用它代替追溯码，等于没有扫码，医保可拒付。这是需要整改的流程问题。
-- why_en: The EAN-13 goods barcode and the drug standard code name a product, not a box; uploading them instead of the trace code is the same as not scanning, and the fund may refuse to pay. A process gap to fix.
-- message_zh: 结算/销售 {tx} 的商品 {item_id} 上传的“追溯码” {code} 是商品条码（{code_kind}），不是追溯码
-- message_en: {tx}: item {item_id} was uploaded with {code}, a product barcode ({code_kind}), not a trace code
SELECT e.store, MIN(e.day) AS day_first, e.code AS codes, e.code, e.code_kind, MAX(e.item_id) AS item_id,
       MAX(e.item_id) AS items, COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) AS tx,
       MAX(e.setl_id) AS setl_ids, MAX(e.psn_no) AS psn_nos, 0 AS amount_fen,
       GROUP_CONCAT(e.src_table || ':' || e.src_id) AS evidence
FROM code_events e
WHERE e.event IN ('sold', 'settled') AND e.code_kind IN ('ean13', 'drug_std_code')
GROUP BY e.store, e.code, e.code_kind, COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id)
