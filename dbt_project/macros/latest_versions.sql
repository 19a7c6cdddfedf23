{#-
    The body of stg_customers and stg_products: one row per id, its latest clean
    version (greatest updated_at) from `classified_model`.

    Incremental: for each id re-judged since the model's watermark, rank all its clean
    versions again and upsert the winner by id. Ranking the whole history of the id (not
    just the new rows) is what keeps a late-arriving OLDER version from replacing a newer
    one: the stored row is replaced only by a version that ranks first, i.e. has
    updated_at >= every other clean version's.
-#}
{% macro latest_versions(classified_model, id_column, columns) %}
with

classified as (

    select * from {{ ref(classified_model) }}

),

clean as (

    select * from classified
    where reason is null
    {% if is_incremental() %}
        and {{ id_column }} in (
            select {{ id_column }} from classified
            where _classified_at > {{ watermark() }}
        )
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by {{ id_column }}
            order by updated_at desc, loaded_at desc, load_label desc, row_key desc
        ) as version_rank
    from clean

),

final as (

    select
        {{ id_column }},
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        updated_at
    from ranked
    where version_rank = 1

)

select * from final
{% endmacro %}
