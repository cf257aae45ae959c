-- id: code_product_mismatch
-- category: substitution
-- severity: high
-- title_zh: 追溯码所属药品与结算药品不符（串换）
-- title_en: Trace code belongs to another product than the item billed
-- why_zh: 追溯码前7位（药品标识码）或 GTIN 标明了具体药品和包装。结算扫描的码属于另一个药品，说明结算的药和实际给出的药不一致，或者码是借来的。
-- why_en: The first 7 digits of a trace code (or the GTIN) identify the product and pack. A code of another product on a settlement means the drug billed is not the drug handed over, or the code was borrowed.
-- message_zh: 结算 {tx} 的商品 {item_id}（{item_name}）扫描了追溯码 {code}，其标识码 {product_key} 属于 {other_items}
-- message_en: settlement {tx} billed item {item_id} ({item_name}) with trace code {code}, whose product code {product_key} belongs to {other_items}
SELECT t.store, t.day AS day_first, t.code AS codes, t.code, t.item_id, COALESCE(i.item_name, '') AS item_name,
       t.product_key, t.tx, t.setl_id AS setl_ids, t.psn_no AS psn_nos,
       t.item_id || ',' || COALESCE((SELECT GROUP_CONCAT(DISTINCT p.item_id) FROM item_products p
                                     WHERE p.product_key = t.product_key), '') AS items,
       COALESCE((SELECT GROUP_CONCAT(DISTINCT p.item_id) FROM item_products p WHERE p.product_key = t.product_key),
                '?') AS other_items,
       CAST(COALESCE((SELECT SUM(m.insured_fen / CASE WHEN m.code_count > 0 THEN m.code_count ELSE 1 END)
                      FROM v_line_money m WHERE m.setl_id = t.setl_id AND m.store = t.store AND m.item_id = t.item_id), 0)
            AS INTEGER) AS amount_fen,  -- the insurance money of one box of the line (0 for a cash sale)
       (SELECT GROUP_CONCAT(e.src_table || ':' || e.src_id) FROM code_events e
        WHERE e.code = t.code AND e.store = t.store AND e.event IN ('sold', 'settled')
          AND COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) = t.tx) AS evidence  -- the transaction's events
FROM v_code_tx t
LEFT JOIN v_item i ON i.store = t.store AND i.item_id = t.item_id
WHERE t.reversed = 0 AND t.code_kind IN ('cn20', 'gs1')
  -- the item has products listed, for its store or for all stores ('') ...
  AND (EXISTS (SELECT 1 FROM item_products k WHERE k.item_id = t.item_id AND k.store = t.store)
       OR EXISTS (SELECT 1 FROM item_products k WHERE k.item_id = t.item_id AND k.store = ''))
  -- ... and the code's product is none of them (equality lookups, no OR inside: DuckDB
  -- then needs no copy of the code transactions for them)
  AND NOT EXISTS (SELECT 1 FROM item_products p WHERE p.item_id = t.item_id AND p.store = t.store
                  AND p.product_key = t.product_key)
  AND NOT EXISTS (SELECT 1 FROM item_products p WHERE p.item_id = t.item_id AND p.store = ''
                  AND p.product_key = t.product_key)
  AND NOT EXISTS (SELECT 1 FROM code_ancestors a WHERE a.code = t.code AND a.depth > 0)
